"""Reconciliation: Postgres is the record, so the queues in Redis can always be rebuilt from it.

Each scheduler pass compares the Redis server's run id with the one `offload:epoch` recorded
when the queues were last reconciled. If Redis restarted (empty or from an old snapshot), was
flushed, was replaced behind the same address or failed over to a replica that missed writes,
they differ, and the scheduler walks every pending task, due or delayed, in the order they
became ready, and puts back each message that is neither ready nor delayed (lua/restore.lua),
at the place its ready time and priority give it, so the queue's order is what it would have
been; a stale copy in the wrong set (ready on a replica that missed the task's retry) is moved
to where Postgres says it belongs. Once the walk is done it records the run id. A task
running meanwhile keeps running: its outcome goes to Postgres, and if its worker dies the
reaper sends it round as usual. Without INFO (some managed services refuse it) only a lost
epoch key is seen: a flush or an empty restart, not a failover that brings the key back.

Between such events a slow walk covers what can go missing otherwise (a retry whose publish
failed after its outbox row was swept, a message lost to eviction): one batch of the tasks
pending for longer than OFFLOAD_REPUBLISH_AFTER_SECONDS every tenth of that window, each put
back only if Redis does not hold it, so a deep backlog costs a few reads a second, never
writes.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

import redis

from offload_shared.broker.layout import RedisQueues
from offload_shared.db import Database, Queries
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task
from offload_shared.publisher import Publisher

log = logging.getLogger(__name__)

PACKAGE = "offload_scheduler"
query = Queries(PACKAGE)
BATCH = 1_000
REBUILD_BATCHES = 20  # per pass, while Redis is being rebuilt
Cursor = tuple[datetime, uuid.UUID]  # (ready time, id) of the last task walked
START: Cursor = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))


class Reconciler:
    def __init__(
        self,
        db: Database,
        queues: RedisQueues,
        publisher: Publisher,
        *,
        window_seconds: float,
        slow_walk_every: float | None = None,
    ) -> None:
        """`slow_walk_every`: seconds between slow-walk batches (a tenth of the window)."""
        self.db = db
        self.queues = queues
        self.publisher = publisher
        self.window_seconds = window_seconds
        self.slow_walk_every = window_seconds / 10 if slow_walk_every is None else slow_walk_every
        self.rebuilding: str | None = None  # the run id of the server being rebuilt
        self._started = 0.0
        self._restored = 0
        self._rebuild_cursor = START
        self._slow_cursor = START
        self._next_slow_walk = 0.0

    def run_once(self) -> int:
        """One pass; returns how many messages were put back. Raises BrokerUnavailable while
        Redis is away (and StoreError while Postgres is)."""
        try:
            run_id, epoch = self.queues.identity()
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc
        # Without INFO (a managed Redis may refuse it) only a lost epoch key shows; the id
        # made up for such a server holds until its rebuild is done.
        current = run_id or epoch or self.rebuilding or uuid.uuid4().hex
        if epoch != current and self.rebuilding != current:
            log.warning(
                "Redis %s: putting back the messages of all pending tasks from Postgres",
                "holds no epoch key (new, flushed or restarted empty)"
                if epoch is None
                else "restarted or failed over",
            )
            self.rebuilding, self._started, self._restored = current, time.monotonic(), 0
            self._rebuild_cursor = START
        if self.rebuilding is not None:
            return self._rebuild(self.rebuilding)
        return self._slow_walk()

    def _rebuild(self, run_id: str) -> int:
        restored = 0
        for _ in range(REBUILD_BATCHES):
            tasks, cursor = self._pending_after(self._rebuild_cursor, None)
            restored += self.publisher.restore(tasks, fix=True)
            self._rebuild_cursor = cursor  # only once they are back: a failed batch is redone
            if len(tasks) < BATCH:
                break
        else:  # more to walk on the next pass
            self._restored += restored
            return restored
        self._restored += restored
        try:
            self.queues.set_epoch(run_id)
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc
        log.warning(
            "Redis rebuilt from Postgres: %d message(s) put back in %.1f s",
            self._restored, time.monotonic() - self._started,
        )  # fmt: skip
        self.rebuilding = None
        return restored

    def _slow_walk(self) -> int:
        now = time.monotonic()
        if now < self._next_slow_walk:
            return 0
        self._next_slow_walk = now + self.slow_walk_every
        tasks, cursor = self._pending_after(self._slow_cursor, self.window_seconds)
        restored = self.publisher.restore(tasks)
        self._slow_cursor = cursor if len(tasks) == BATCH else START
        if restored:
            log.warning("put back %d pending task(s) whose message was missing", restored)
        return restored

    def _pending_after(self, cursor: Cursor, older_than: float | None) -> tuple[list[Task], Cursor]:
        """The next batch of pending tasks after `cursor`, and the cursor after them."""
        rows = self.db.fetch_all(
            query("pending_after"),
            {"after_due": cursor[0], "after_id": cursor[1], "older_than_seconds": older_than,
             "limit": BATCH},
        )  # fmt: skip
        tasks = [Task.from_row(row) for row in rows]
        if not tasks:
            return tasks, cursor
        last = tasks[-1]
        return tasks, (last.next_attempt_at or last.created_at, last.id)
