"""Records every task transition in Postgres around each Dramatiq message.

pending -> running before the actor runs (or the message is skipped if the task was cancelled,
already finished, or is being run by another delivery), then completed + result, pending again
for a retry (retry_count + 1, next attempt time, an outbox row), failed + error once retries are
spent, cancelled after a cancel request, or pending without spending a retry when a shutdown cut
the attempt short. Status is written before the message is acked; if Postgres is briefly away
the write is retried rather than lost.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from offload_shared.broker import task_message
from offload_shared.db import Database
from offload_shared.errors import (
    OffloadError,
    PermanentTaskError,
    StoreError,
    StoreUnavailable,
    TaskCancelled,
    WorkerShutdown,
)
from offload_shared.models import Task
from offload_shared.retry import backoff_seconds
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import RuntimeHolder

log = logging.getLogger(__name__)

STORE_OUTAGE_REDELIVERY_MS = 5_000
T = TypeVar("T")


@dataclass
class _Run:
    task: Task
    store: TaskStore
    result: Any = None


_CURRENT: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("offload_run", default=None)


def current_task() -> Task:
    """The task whose actor is running in this thread."""
    run = _CURRENT.get()
    if run is None:
        raise RuntimeError("current_task() called outside a task")
    return run.task


def current_db() -> Database:
    """The worker process's Postgres pool, for actors that read or write more than their row."""
    run = _CURRENT.get()
    if run is None:
        raise RuntimeError("current_db() called outside a task")
    return run.store.db


def report_progress(percent: int) -> None:
    """A checkpoint: write the running task's progress (0-100) to its row.

    Raises TaskCancelled when a cancel was requested; long tasks call this between chunks.
    """
    run = _CURRENT.get()
    if run is not None and run.store.set_progress(run.task.id, percent):
        raise TaskCancelled(f"task {run.task.id} was cancelled")


def set_result(result: Any) -> None:
    run = _CURRENT.get()
    if run is not None:
        run.result = result


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TaskStatusMiddleware(Middleware):
    """It owns retries (Dramatiq's Retries middleware is not installed): the decision uses the
    task's retry_count and max_retries from Postgres. It also takes Dramatiq's `throws` actor
    option, which tells the worker that failures are handled here and need no traceback log.
    """

    def __init__(
        self,
        runtime: RuntimeHolder,
        *,
        retry_backoff_seconds: float,
        store_retry_seconds: float = 60.0,
    ) -> None:
        self.runtime = runtime
        self.retry_backoff_seconds = retry_backoff_seconds
        self.store_retry_seconds = store_retry_seconds

    @property
    def actor_options(self) -> set[str]:
        return {"throws"}

    @property
    def store(self) -> TaskStore:
        return self.runtime.get().store

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self.store.db.close()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        try:
            task_id = uuid.UUID(message.message_id)
        except ValueError:
            raise SkipMessage("message id is not a task id") from None
        try:
            task = self.store.mark_running(task_id, self.runtime.get().id)
        except StoreError:
            log.warning("store unavailable; redelivering %s later", message.message_id)
            broker.enqueue(message.copy(), delay=STORE_OUTAGE_REDELIVERY_MS)
            raise SkipMessage("store unavailable") from None
        if task is None:
            raise SkipMessage("task is not pending (cancelled, finished or running elsewhere)")
        _CURRENT.set(_Run(task, self.store))

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        _CURRENT.set(None)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        run = _CURRENT.get()
        _CURRENT.set(None)
        if run is None or str(run.task.id) != message.message_id:
            return
        task = run.task
        if exception is not None and not isinstance(exception, TaskCancelled | WorkerShutdown):
            log.warning(
                "task %s (%s) attempt %d raised %s",
                task.id, task.task_name, task.attempts, type(exception).__name__,
            )  # fmt: skip
        try:
            self._record(broker, task, run.result, exception)
        except OffloadError:
            log.exception("could not record the outcome of task %s", task.id)

    def _record(
        self, broker: Broker, task: Task, result: Any, exception: BaseException | None
    ) -> None:
        store = self.store
        if exception is None:
            self._persist(lambda: store.mark_completed(task.id, result))
        elif isinstance(exception, TaskCancelled):
            self._persist(lambda: store.mark_cancelled(task.id))
        elif isinstance(exception, WorkerShutdown):
            again = self._persist(lambda: store.mark_interrupted(task.id))
            if again is not None:
                self._publish(broker, again, delay_ms=None)
        elif self._should_retry(task, exception):
            delay = backoff_seconds(task.retry_count, self.retry_backoff_seconds)
            again = self._persist(lambda: store.mark_retrying(task.id, describe(exception), delay))
            if again is not None:
                self._publish(broker, again, delay_ms=int(delay * 1000))
            else:  # a cancel was requested while it ran: no retry
                self._persist(lambda: store.mark_cancelled(task.id))
        else:
            self._persist(lambda: store.mark_failed(task.id, describe(exception)))

    def _publish(self, broker: Broker, task: Task, *, delay_ms: int | None) -> None:
        """Send the task round again now; if Redis refuses, its outbox row stays for the relay."""
        try:
            broker.enqueue(task_message(task), delay=delay_ms)
        except Exception as exc:
            log.warning("task %s left to the outbox relay: %s", task.id, type(exc).__name__)
            return
        try:
            self.store.outbox_done(task.id)
        except StoreError:
            log.warning("task %s: outbox row kept; the relay may publish it twice", task.id)

    def _persist(self, write: Callable[[], T]) -> T:
        """Run a status write, retrying while Postgres is unreachable (e.g. restarting)."""
        deadline = time.monotonic() + self.store_retry_seconds
        pause = 0.2
        while True:
            try:
                return write()
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                log.warning("Postgres unreachable; retrying a status write in %.1fs", pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    @staticmethod
    def _should_retry(task: Task, exception: BaseException) -> bool:
        if isinstance(exception, PermanentTaskError):
            return False
        return task.retry_count < task.max_retries
