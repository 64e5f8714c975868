"""Group commit: the status writes of all threads of a worker process, in one transaction.

Threads hand their transitions (claims, completions, retries, ...) to the process's
GroupCommit. One flusher thread takes everything queued, runs one set-based statement per kind
of transition in one transaction (pipelined: one round trip), commits, and only then resolves
the writes. While one transaction is in flight the next batch gathers, so batches grow with the
load and a lone transition commits at once.

A write can be waited for (`write`, `write_many`), or only submitted (`submit`): the worker
submits a task's completion and moves on, and the task's message is acked by the write's
callback once the commit is done. Either way nothing is acked before its status is committed;
a crash before the commit leaves the message unacked, and it is delivered again.

While Postgres is unreachable the flusher retries the batch, backing off. An attempt's outcome
(complete, retry, fail, stop, interrupt) is retried until it commits, as long as the process
lives: its message stays unacked meanwhile, and dropping it would leave the task 'running'.
Claims and give-backs fail with StoreUnavailable after `retry_seconds` (their messages are put
back for later). A try cut off at commit may have committed unheard: its retry also reports
what had landed (Transition.landed). If a statement fails for another
reason (one task's result Postgres refuses, say), the batch is split and each write runs
alone, so only the bad one fails.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from offload_shared.db import Database, wrap_exceptions
from offload_shared.errors import StoreError, StoreUnavailable
from offload_shared.transitions import OUTCOMES, WORKER, Transition

log = logging.getLogger(__name__)

MAX_BATCH = 1_000
Row = dict[str, Any]


class Write:
    """One submitted transition: resolved with the row it moved (or None), or an error."""

    __slots__ = ("_callbacks", "_done", "error", "result", "row", "transition")

    def __init__(self, transition: Transition, row: Row) -> None:
        self.transition = transition
        self.row = row
        self.result: Row | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._callbacks: list[Callable[[Write], None]] = []

    def wait(self) -> Row | None:
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def then(self, callback: Callable[[Write], None]) -> None:
        """Call `callback(self)` once resolved (at once if it already is)."""
        if not self._done.is_set():
            with _CALLBACKS:
                if not self._done.is_set():
                    self._callbacks.append(callback)
                    return
        callback(self)

    def resolve(self, result: Row | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        with _CALLBACKS:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("a status write's callback failed")


_CALLBACKS = threading.Lock()


class GroupCommit:
    def __init__(
        self, db: Database, *, retry_seconds: float = 60.0, max_batch: int = MAX_BATCH
    ) -> None:
        self.db = db
        self.retry_seconds = retry_seconds
        self.max_batch = max_batch
        self._queue: list[Write] = []
        self._cond = threading.Condition()
        self._busy = False
        self._pid = 0
        self.batches = 0  # transactions committed (for tests and benchmarks)
        self.writes = 0

    def submit(self, transition: Transition, row: Row) -> Write:
        """Queue one transition; it commits with the next batch."""
        return self.submit_many(transition, [row])[0]

    def submit_many(self, transition: Transition, rows: Sequence[Row]) -> list[Write]:
        writes = [Write(transition, row) for row in rows]
        with self._cond:
            if self._pid != os.getpid():  # first use in this process (or after a fork)
                self._pid = os.getpid()
                self._queue = []
                self._busy = False
                threading.Thread(target=self._run, name="offload-group-commit", daemon=True).start()
            self._queue.extend(writes)
            self._cond.notify_all()
        return writes

    def write(self, transition: Transition, row: Row) -> Row | None:
        """Queue one transition and wait for its commit; the row it moved, or None."""
        return self.submit(transition, row).wait()

    def write_many(self, transition: Transition, rows: Sequence[Row]) -> list[Row | None]:
        return [write.wait() for write in self.submit_many(transition, rows)]

    def drain(self, timeout: float) -> bool:
        """Wait until everything submitted so far is resolved (at shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._pid != os.getpid():
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                self._busy = True
            try:
                self._flush(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _flush(self, batch: list[Write], unsure: bool = False) -> None:
        """Commit `batch`, retrying while Postgres is unreachable. `unsure`: an earlier try was
        cut off, and may have committed without our hearing."""
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.2
        while True:
            try:
                self._commit(batch, unsure)
                return
            except StoreUnavailable as exc:
                unsure = True
                if time.monotonic() + pause > deadline:  # claims give up; outcomes go on
                    self._fail([w for w in batch if w.transition not in OUTCOMES], exc)
                    batch = [w for w in batch if w.transition in OUTCOMES]
                    if not batch:
                        return
                log.warning("Postgres unreachable; retrying %d status write(s) in %.1fs",
                            len(batch), pause)  # fmt: skip
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
            except StoreError as exc:
                if len(batch) == 1:
                    self._fail(batch, exc)
                    return
                log.warning("a batch of %d status writes failed (%s); writing each alone",
                            len(batch), exc)  # fmt: skip
                for write in batch:
                    self._flush([write], unsure)
                return
            except BaseException as exc:  # never leave a thread waiting
                log.exception("status writes failed")
                self._fail(batch, StoreError(f"status write failed ({type(exc).__name__})"))
                return

    def _commit(self, batch: list[Write], unsure: bool = False) -> None:
        groups: dict[Transition, list[Write]] = {}
        for write in batch:
            groups.setdefault(write.transition, []).append(write)
        ordered = [t for t in WORKER if t in groups] + [t for t in groups if t not in WORKER]
        with self.db.connection() as conn, wrap_exceptions():
            if len(ordered) == 1:  # one statement: its own transaction, no pipeline needed
                [t] = ordered
                results = [conn.execute(t.sql, t.params([w.row for w in groups[t]])).fetchall()]
            else:
                with conn.pipeline(), conn.transaction():
                    cursors = [
                        conn.execute(t.sql, t.params([w.row for w in groups[t]])) for t in ordered
                    ]
                results = [cursor.fetchall() for cursor in cursors]
            if unsure:  # add what an earlier, cut-off try of this batch had already done
                for transition, rows in zip(ordered, results, strict=True):
                    done = {row["id"] for row in rows}
                    missed = [w.row for w in groups[transition] if w.row["id"] not in done]
                    rows.extend(transition.find_landed(conn, missed))
        self.batches += 1
        self.writes += len(batch)
        for transition, rows in zip(ordered, results, strict=True):
            moved = {row["id"]: row for row in rows}
            for write in groups[transition]:
                # pop: of two writes for one task in a batch, only the first moved it
                write.resolve(moved.pop(write.row["id"], None))

    @staticmethod
    def _fail(batch: list[Write], exc: BaseException) -> None:
        for write in batch:
            write.resolve(error=exc)
