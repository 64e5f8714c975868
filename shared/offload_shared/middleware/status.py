"""Records every task transition in Postgres around each Dramatiq message.

pending -> running before the actor runs (or the message is skipped if the task was cancelled,
already finished, or is being run by another delivery), then completed + result, pending again
for a retry (retry_count + 1, next attempt time, an outbox row), failed + error once retries are
spent, cancelled after a cancel request, or pending without spending a retry when a shutdown cut
the attempt short.

On Offload's broker the claims are made in batches: the consumer hands each batch it fetched
to `admit`, which claims them all in one statement, and only the claimed ones reach a worker
thread. A finished task's status write is submitted to the process's group commit and its
message is acked once that commits; the thread goes on to its next task meanwhile. Retries
and requeues wait for their commit, then publish. Status is always committed before the message
is acked.

Once claimed, the task's TaskContext (offload_shared/context.py) is what its function gets:
this middleware builds it, `current_context()` hands it to task_actor's wrapper, and the
function's return value, which Dramatiq passes back here, is the recorded result.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import Middleware, SkipMessage

from offload_shared import logs, task_limits
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.broker import (
    RECHECK_AFTER_SECONDS,
    Leased,
    OffloadBroker,
    ack_after,
    release_later,
)
from offload_shared.broker.layout import Limit
from offload_shared.catalog import CATALOG, RetryPolicy, retry_policy
from offload_shared.context import TaskContext
from offload_shared.errors import (
    OffloadError,
    StoreError,
    TaskCancelled,
    WorkerShutdown,
)
from offload_shared.group_commit import Write
from offload_shared.metrics import counted
from offload_shared.models import Task
from offload_shared.publisher import Publisher
from offload_shared.settings import Settings
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import RuntimeHolder

log = logging.getLogger(__name__)

STORE_OUTAGE_REDELIVERY_MS = 5_000


@dataclass
class _Run:
    ctx: TaskContext
    result: Any = None  # what the task function returned (recorded with the outcome)
    began: float = field(default_factory=time.monotonic)


_CURRENT: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("offload_run", default=None)


def run_task(fn: Callable[[TaskContext], Any]) -> None:
    """Call the task function of the task claimed in this thread with its context, and keep
    its result for the outcome (task_actor's wrapper; it returns None to Dramatiq, which has
    no results backend here and would warn about a discarded value)."""
    run = _CURRENT.get()
    if run is None:
        raise RuntimeError("run_task() called outside a task")
    run.result = fn(run.ctx)


def _checkpoint(store: TaskStore, task_id: uuid.UUID, percent: int) -> None:
    """Write the running task's progress (0-100); raises TaskCancelled once a cancel was
    requested (long tasks call it between chunks, as ctx.checkpoint)."""
    if store.set_progress(task_id, percent):
        raise TaskCancelled(f"task {task_id} was cancelled")


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _task_id(message: MessageProxy) -> uuid.UUID | None:
    try:
        return uuid.UUID(message.message_id)
    except ValueError:
        return None


class TaskStatusMiddleware(Middleware):
    """It owns retries (Dramatiq's Retries middleware is not installed): the decision uses the
    task's retry_count and max_retries from Postgres. It also takes Dramatiq's `throws` actor
    option, which tells the worker that failures are handled here and need no traceback log.
    """

    def __init__(self, runtime: RuntimeHolder, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.retry_backoff_seconds = settings.retry_backoff_seconds
        self.artifact_ttl = timedelta(days=settings.artifact_ttl_days)

    @property
    def actor_options(self) -> set[str]:
        # retry_policy: the declared TaskSpec's RetryPolicy (task_actor passes it), so a task
        # type keeps its policy whether or not it is in this process's catalog.
        return {"throws", "retry_policy"}

    @property
    def store(self) -> TaskStore:
        return self.runtime.get().store

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        if isinstance(broker, OffloadBroker):  # before its consumers start
            broker.admit = self.admit
            broker.give_back = self.give_back
            broker.note_held = self.note_held
            broker.limits = broker_limits(broker, self.settings)

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        if isinstance(broker, OffloadBroker):  # claim nothing more: it would only be given back
            broker.draining = True

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self.runtime.get().close()

    def note_held(self, held: list[tuple[str, str]]) -> None:
        self.store.note_waiting(held)

    def admit(self, messages: list[Leased]) -> list[Leased]:
        """Claim a fetched batch in one statement; the claimed ones run, the rest are acked
        (cancelled, finished or running elsewhere) or released for later (Postgres away)."""
        ids = {id(m): _task_id(m) for m in messages}
        wanted = [task_id for task_id in ids.values() if task_id is not None]
        try:
            claimed = self.store.claim_many(wanted, self.runtime.get().id)
        except StoreError:
            log.warning("store unavailable; %d message(s) redelivered later", len(messages))
            for message in messages:
                release_later(message, STORE_OUTAGE_REDELIVERY_MS)
            return []
        admitted = []
        for message in messages:
            task_id = ids[id(message)]
            message.admitted = claimed.get(task_id) if task_id is not None else None
            if message.admitted is not None:
                admitted.append(message)
        return admitted

    def give_back(self, messages: list[Leased]) -> None:
        returned = self.store.give_back([m.admitted for m in messages if m.admitted is not None])
        log.info("gave back %d claimed, unstarted task(s)", returned)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        batch = isinstance(message, Leased) and message.batch_admitted
        task = message.admitted if batch else self._claim(message)
        if task is None:
            raise SkipMessage("task is not pending (cancelled, finished or running elsewhere)")
        # Every line this thread logs until the outcome is written carries the task's fields
        # (cleared in after_process_message or after_skip_message, which always follow).
        logs.bind(logs.task_fields(task))
        if isinstance(message, Leased) and message.waited() > RECHECK_AFTER_SECONDS:
            self._begin_late(message, task)
        store = self.store
        ctx = TaskContext(
            task=task,
            db=store.db,
            settings=self.settings,
            artifacts=PostgresArtifacts(store.db, ttl=self.artifact_ttl),
            checkpoint=functools.partial(_checkpoint, store, task.id),
        )
        _CURRENT.set(_Run(ctx))
        if task.started_at is not None:
            due = task.next_attempt_at or task.created_at
            wait = max(0.0, (task.started_at - due).total_seconds())
            counted().queue_wait(task, wait)
        self.runtime.get().started(task.id)  # last: abortable (the heartbeat) from here on

    def _begin_late(self, message: Leased, task: Task) -> None:
        """A claim that waited behind slow tasks: make sure it still holds before running."""
        try:
            cancel_requested = self.store.begin_late(task)
        except StoreError:
            return  # run it: its outcome is written only if the attempt is still its own
        if cancel_requested is None:
            raise SkipMessage("the claim was given up on while the task waited (reaped)")
        if cancel_requested:
            ack_after(message, self.store.stop(task))
            raise SkipMessage("cancelled while it waited for a thread")

    def _claim(self, message: MessageProxy) -> Task | None:
        """One claim, for messages not admitted in a batch (e.g. on StubBroker in tests)."""
        task_id = _task_id(message)
        if task_id is None:
            raise SkipMessage("message id is not a task id")
        try:
            return self.store.claim(task_id, self.runtime.get().id)
        except StoreError:
            log.warning("store unavailable; redelivering %s later", message.message_id)
            release_later(message, STORE_OUTAGE_REDELIVERY_MS)
            raise SkipMessage("store unavailable") from None

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        _CURRENT.set(None)
        logs.bind(None)
        task_id = _task_id(message)
        if task_id is not None:  # a duplicate of a task running here: its entry is not ours
            self.runtime.get().finished(task_id)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            self._outcome(broker, message, exception)
        finally:
            logs.bind(None)  # the task's lines end with its outcome

    def _outcome(
        self, broker: Broker, message: MessageProxy, exception: BaseException | None
    ) -> None:
        run = _CURRENT.get()
        if run is not None and str(run.ctx.task.id) == message.message_id:
            self.runtime.get().finished(run.ctx.task.id)  # first: no abort from here on
        _CURRENT.set(None)
        if run is None or str(run.ctx.task.id) != message.message_id:
            return
        task, result = run.ctx.task, run.result
        ran = time.monotonic() - run.began
        counted().run_time(task, ran)
        if exception is not None and not isinstance(exception, TaskCancelled | WorkerShutdown):
            log.warning(
                "task %s (%s) attempt %d raised %s",
                task.id, task.task_name, task.attempts, type(exception).__name__,
            )  # fmt: skip
        try:
            outcome = self._record(broker, task, result, exception)
        except OffloadError:
            log.exception("could not record the outcome of task %s", task.id)
            return
        if outcome is not None:
            outcome.then(lambda write: _log_failed_write(task, write))  # in the commit's thread
            ack_after(message, outcome)

    def _record(
        self, broker: Broker, task: Task, result: Any, exception: BaseException | None
    ) -> Write | None:
        """Write the attempt's outcome; returns the write the ack must wait for, if any."""
        store = self.store
        if exception is None:
            unstorable = _unstorable(result)
            if unstorable is None:
                return store.complete(task, result)
            return store.fail(
                task, f"PermanentTaskError: the result cannot be stored ({unstorable})"
            )
        if isinstance(exception, TaskCancelled):
            return store.stop(task)
        if isinstance(exception, WorkerShutdown):
            again = store.interrupt(task)
            if again is not None:
                self._publish(broker, again)
            return None
        policy = _policy(broker, task)
        if not policy.is_permanent(exception) and task.retry_count < task.max_retries:
            delay = policy.delay(exception, task.retry_count, self.retry_backoff_seconds)
            again = store.retry_later(task, describe(exception), delay)
            if again is not None:
                self._publish(broker, again)
                return None
            return store.stop(task)  # a cancel was requested while it ran: no retry
        return store.fail(task, describe(exception))

    def _publish(self, broker: Broker, task: Task) -> None:
        """Send the task round again (delayed until its next attempt); if Redis refuses, its
        outbox row stays for the relay."""
        try:
            Publisher(broker, self.runtime.get().outbox).publish([task])
        except OffloadError as exc:
            log.warning("task %s left to the outbox relay: %s", task.id, exc)


def broker_limits(broker: Broker, settings: Settings) -> dict[str, list[Limit]]:
    """Queue -> the limits of this worker's actors on it: OFFLOAD_TASK_LIMITS over the
    catalog's defaults (task_limits.py)."""
    defaults = {name: spec.limit for name, spec in CATALOG.items()}
    actors = [(actor.actor_name, actor.queue_name) for actor in broker.actors.values()]
    return task_limits.by_queue(actors, settings.task_limits, defaults)


def _policy(broker: Broker, task: Task) -> RetryPolicy:
    """The task's retry policy: its actor's (declared with task_actor), else the catalog's."""
    try:
        declared = broker.get_actor(task.task_name).options.get("retry_policy")
    except ActorNotFound:
        declared = None
    return declared if isinstance(declared, RetryPolicy) else retry_policy(task.task_name)


def _unstorable(result: Any) -> str | None:
    """Why Postgres could not store `result` as JSON, or None if it can."""
    try:
        orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # orjson.JSONEncodeError
        return f"not JSON: {exc}"
    return "it holds a NUL character" if _has_nul(result) else None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _log_failed_write(task: Task, write: Write) -> None:
    if write.error is not None:
        log.error(
            "could not record the outcome of task %s: %s", task.id, write.error,
            extra={logs.EXTRA: logs.task_fields(task)},
        )  # fmt: skip
