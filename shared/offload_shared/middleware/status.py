"""Records every task transition in Postgres around each Dramatiq message.

pending -> running before the actor runs (or the message is skipped if the task was cancelled),
then completed + result, pending again for a retry (retry_count + 1, next attempt time), or
failed + error once retries are spent. Status is written before the message is acked.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from offload_shared.db import Database
from offload_shared.errors import OffloadError, PermanentTaskError, StoreError, TaskCancelled
from offload_shared.models import Task
from offload_shared.retry import backoff_seconds
from offload_shared.store import TaskStore

log = logging.getLogger(__name__)

STORE_OUTAGE_REDELIVERY_MS = 5_000


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
    """One store per worker process, opened after the fork.

    It owns retries (Dramatiq's Retries middleware is not installed): the decision uses the
    task's retry_count and max_retries from Postgres. It also takes Dramatiq's `throws` actor
    option, which tells the worker that failures are handled here and need no traceback log.
    """

    @property
    def actor_options(self) -> set[str]:
        return {"throws"}

    def __init__(
        self, store_factory: Callable[[], TaskStore], *, retry_backoff_seconds: float
    ) -> None:
        self._store_factory = store_factory
        self._store: TaskStore | None = None
        self.retry_backoff_seconds = retry_backoff_seconds

    @property
    def store(self) -> TaskStore:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def after_process_boot(self, broker: Broker) -> None:
        self._store = self._store_factory()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        if self._store is not None:
            self._store.db.close()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        try:
            task_id = uuid.UUID(message.message_id)
            task = self.store.mark_running(task_id)
        except StoreError:
            log.warning("store unavailable; redelivering %s later", message.message_id)
            broker.enqueue(message.copy(), delay=STORE_OUTAGE_REDELIVERY_MS)
            raise SkipMessage("store unavailable") from None
        except ValueError:
            raise SkipMessage("message id is not a task id") from None
        if task is None:
            raise SkipMessage("task is not pending (cancelled, finished or unknown)")
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
        if exception is not None and not isinstance(exception, TaskCancelled):
            log.warning(
                "task %s (%s) attempt %d raised %s",
                task.id,
                task.task_name,
                task.attempts,
                type(exception).__name__,
            )
        try:
            if exception is None:
                self.store.mark_completed(task.id, run.result)
            elif isinstance(exception, TaskCancelled):
                self.store.mark_cancelled(task.id)
            elif self._should_retry(task, exception):
                delay = backoff_seconds(task.retry_count, self.retry_backoff_seconds)
                if self.store.mark_retrying(task.id, describe(exception), delay):
                    broker.enqueue(message.copy(), delay=int(delay * 1000))
                else:  # a cancel was requested while it ran: no retry
                    self.store.mark_cancelled(task.id)
            else:
                self.store.mark_failed(task.id, describe(exception))
        except OffloadError:
            log.exception("could not record the outcome of task %s", task.id)

    @staticmethod
    def _should_retry(task: Task, exception: BaseException) -> bool:
        if isinstance(exception, PermanentTaskError):
            return False
        return task.retry_count < task.max_retries
