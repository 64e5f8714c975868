"""The one publish path: every task message leaves through `Publisher.publish`.

The API (single and batch enqueue, retry requests), the event fan-out, the outbox relay and the
workers (retries, requeues after a shutdown) all publish here, after the transition that made
the task publishable committed together with its outbox row. A message is published delayed
until the task's `next_attempt_at`. If Redis refuses, BrokerUnavailable is raised and the
outbox rows stay for the scheduler's relay; once published, the rows are handed to the
process's OutboxSweeper, which deletes them in batches off the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from dramatiq import Broker
from dramatiq.errors import BrokerConnectionError

from offload_shared.broker import OffloadBroker, disconnect, task_message
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task
from offload_shared.outbox import OutboxSweeper

__all__ = [
    "Publisher",
]

log = logging.getLogger(__name__)


def delay_ms(task: Task, now: datetime) -> int:
    """How long the task's message waits before it may run (0: at once)."""
    if task.next_attempt_at is None:
        return 0
    return max(0, int((task.next_attempt_at - now).total_seconds() * 1000))


class Publisher:
    def __init__(self, broker: Broker, outbox: OutboxSweeper | None = None) -> None:
        self.broker = broker
        self.outbox = outbox

    def publish(self, tasks: Sequence[Task]) -> None:
        """Publish the tasks' messages in one round trip; raises BrokerUnavailable."""
        if not tasks:
            return
        now = datetime.now(UTC)
        pairs = [(task_message(task), delay_ms(task, now)) for task in tasks]
        try:
            if isinstance(self.broker, OffloadBroker):
                self.broker.publish(pairs)
            else:  # e.g. Dramatiq's StubBroker in tests
                for message, delay in pairs:
                    self.broker.enqueue(message, delay=delay or None)
        except (redis.RedisError, BrokerConnectionError) as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc
        if self.outbox is not None:
            self.outbox.published([task.id for task in tasks])

    def restore(self, tasks: Sequence[Task], *, fix: bool = False) -> int:
        """Put back the messages of pending tasks that Redis lost (reconciliation), each at the
        place its ready time gives it; those still queued are left alone (with `fix`, those in
        the wrong set are moved). Returns how many were put back; raises BrokerUnavailable."""
        if not isinstance(self.broker, OffloadBroker) or not tasks:
            return 0
        try:
            return self.broker.restore(tasks, fix=fix)
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc

    def retract(self, task: Task) -> None:
        """Take a cancelled task's message back from its queue (best effort: if it stays, the
        claim in Postgres skips it when it comes up)."""
        if not isinstance(self.broker, OffloadBroker):
            return
        try:
            self.broker.retract(task.queue, [str(task.id)])
        except redis.RedisError as exc:
            log.warning("task %s: message not retracted (%s)", task.id, type(exc).__name__)

    def ping(self) -> None:
        try:
            if isinstance(self.broker, OffloadBroker):
                self.broker.client.ping()
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc

    def eviction_warning(self) -> str | None:
        """Whether Redis may evict queue keys (see RedisQueues.eviction_warning)."""
        if not isinstance(self.broker, OffloadBroker):
            return None
        try:
            return self.broker.redis.eviction_warning()
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        disconnect(self.broker)
