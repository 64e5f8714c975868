"""The task store: creating and reading tasks, and one method per transition of the state machine
(transitions.py). A worker's store group-commits its transitions; everyone else's writes each
one as it comes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from offload_shared import transitions as tr
from offload_shared.db import Database, Json
from offload_shared.errors import StoreError, TaskConflict, TaskNotFound
from offload_shared.group_commit import Row, Write
from offload_shared.metrics import counted
from offload_shared.models import Task, TaskEvent, TaskStatus
from offload_shared.sql import query

__all__ = [
    "IdempotencyKey",
    "Reaped",
    "Replay",
    "TaskFilter",
    "TaskStore",
]

MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True)
class TaskFilter:
    status: TaskStatus | None = None
    task_type: str | None = None
    task_name: str | None = None
    queue: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    id_prefix: str | None = None  # the start of the id's text form (hex digits and dashes)

    def params(self, tenant: str) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "id_prefix"}
        low, high = id_range(self.id_prefix) if self.id_prefix is not None else (None, None)
        return {"tenant": tenant, **fields, "id_low": low, "id_high": high}


_UUID_TEXT = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_HEX = frozenset("0123456789abcdef")


def id_range(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids whose text starts with `prefix`, as a range of the primary key: Postgres orders
    uuids byte by byte, as their hex text sorts, so `id BETWEEN low AND high` walks the index
    for them, where `id::text LIKE 'ab12%'` would need an index of its own (one more index
    entry for each of a task's writes). A prefix no id's text can start with (a dash out of
    place, too long) gives an empty range (low above high)."""
    text = prefix.lower()
    slots = _UUID_TEXT[: len(text)]
    fits = len(text) == len(slots) and all(
        (c == "-") if slot == "-" else (c in _HEX) for c, slot in zip(text, slots, strict=True)
    )
    if not fits:
        return uuid.UUID(int=1), uuid.UUID(int=0)
    digits = text.replace("-", "")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


@dataclass(frozen=True)
class NewTask:
    tenant: str
    task_name: str
    task_type: str
    queue: str
    priority: int
    params: dict[str, Any]
    max_retries: int
    time_limit_ms: int
    delay_seconds: float | None = None
    request_id: str | None = None  # the API request's X-Request-ID (offload_api/request_id.py)

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "id": uuid.uuid4()}

    def task(self, row: Row, created: Row) -> Task:
        """The Task `create` made of `row` (this NewTask's), given the columns Postgres
        filled in (`created`); the others start as the schema's defaults say."""
        return Task(
            id=row["id"], tenant=self.tenant, task_name=self.task_name, task_type=self.task_type,
            queue=self.queue, priority=self.priority, status=TaskStatus.PENDING,
            params=self.params, result=None, error_message=None, progress=0, attempts=0,
            retry_count=0, max_retries=self.max_retries, time_limit_ms=self.time_limit_ms,
            created_at=created["created_at"], next_attempt_at=created["next_attempt_at"],
            started_at=None, completed_at=None, request_id=self.request_id,
        )  # fmt: skip


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_sha256: str


@dataclass(frozen=True)
class Replay:
    """An earlier request with the same Idempotency-Key: its task(s) and the response it got."""

    same_request: bool
    task_id: uuid.UUID | None  # the first task the earlier request created
    response: dict[str, Any] | None


@dataclass(frozen=True)
class Reaped:
    requeued: int
    ended: int


class Writer(Protocol):
    """How a store applies transitions: DirectWriter (a statement each) or GroupCommit."""

    def write(self, transition: tr.Transition, row: Row) -> Row | None:
        """Apply `transition` to one task; the row it moved, or None if the task was not in a
        source status."""

    def write_many(self, transition: tr.Transition, rows: Sequence[Row]) -> list[Row | None]:
        """The same for several tasks, in one statement."""

    def submit(self, transition: tr.Transition, row: Row) -> Write:
        """Apply it without waiting for the commit (a GroupCommit resolves the Write later)."""


class DirectWriter:
    """Each call in a statement of its own, committed before it returns (the API, the
    scheduler, tests)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, transition: tr.Transition, row: Row) -> Row | None:
        return self.write_many(transition, [row])[0]

    def write_many(self, transition: tr.Transition, rows: Sequence[Row]) -> list[Row | None]:
        with self.db.connection() as conn:
            moved = {row["id"]: row for row in transition.run(conn, rows)}
        return [moved.pop(row["id"], None) for row in rows]

    def submit(self, transition: tr.Transition, row: Row) -> Write:
        write = Write(transition, row)
        try:
            write.resolve(self.write(transition, row))
        except StoreError as exc:
            write.resolve(error=exc)
        return write


def _task(row: Row | None) -> Task | None:
    return Task.from_row(row) if row else None


def _attempt(task: Task) -> Row:
    return {"id": task.id, "attempt": task.attempts, "worker_id": task.worker_id}


def _clip(error: str) -> str:
    """An error text Postgres can store: no NUL, no lone surrogate, at most MAX_ERROR_CHARS."""
    error = error.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


class TaskStore:
    def __init__(self, db: Database, writer: Writer | None = None) -> None:
        self.db = db
        self.writer = writer or DirectWriter(db)

    # -- create (the API, fan-out, schedules) -------------------------------------------------

    def create(self, new: NewTask) -> Task:
        """Insert the task, its first history row and its outbox row in one statement."""
        return self.create_many([new])[0]

    def create_many(self, news: Sequence[NewTask]) -> list[Task]:
        """Insert tasks (all or none) in one statement; returned in the order given."""
        rows = [new.row() for new in news]
        with self.db.connection() as conn:
            return _created(news, rows, tr.CREATE.run(conn, rows))

    def create_once(
        self,
        news: Sequence[NewTask],
        key: IdempotencyKey,
        response_of: Callable[[list[Task]], dict[str, Any]],
    ) -> list[Task] | Replay:
        """Create the tasks unless the tenant already used `key`; then return the earlier answer.

        The key is claimed first in the same transaction, so concurrent requests with one key
        queue up on it and exactly one creates tasks; the others see the first's response.
        """
        tenant = news[0].tenant
        ids = {"tenant": tenant, "key": key.key}
        rows = [new.row() for new in news]
        with self.db.transaction() as conn:
            claimed = conn.execute(
                query("claim_idempotency_key"), {**ids, "request_sha256": key.request_sha256}
            ).fetchone()
            if claimed is None:
                earlier = conn.execute(query("idempotency_key"), ids).fetchone()
                assert earlier is not None
                return Replay(
                    earlier["request_sha256"] == key.request_sha256,
                    earlier["task_id"],
                    earlier["response"],
                )
            tasks = _created(news, rows, tr.CREATE.run(conn, rows))
            conn.execute(
                query("settle_idempotency_key"),
                {**ids, "task_id": tasks[0].id, "response": Json(response_of(tasks))},
            )
        return tasks

    # -- read -----------------------------------------------------------------------------------

    def get(self, tenant: str, task_id: uuid.UUID) -> Task:
        task = _task(self.db.fetch_one(query("get_task"), {"id": task_id, "tenant": tenant}))
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        return task

    def find(self, tenant: str, where: TaskFilter, *, limit: int, offset: int) -> list[Task]:
        rows = self.db.fetch_all(
            query("list_tasks"), {**where.params(tenant), "limit": limit, "offset": offset}
        )
        return [Task.from_row(r) for r in rows]

    def count(self, tenant: str, where: TaskFilter, *, cap: int | None = None) -> int:
        """How many tasks match; at most `cap` when given (a million take seconds to count)."""
        row = self.db.fetch_one(query("count_tasks"), {**where.params(tenant), "cap": cap})
        return int(row["count"]) if row else 0

    def matching_ids(
        self,
        tenant: str,
        where: TaskFilter,
        statuses: Sequence[TaskStatus],
        *,
        after: uuid.UUID,
        limit: int,
    ) -> list[uuid.UUID]:
        """The next `limit` ids above `after`, in id order, of the tasks matching `where` whose
        status is one of `statuses` (a bulk action walks a filtered set with it)."""
        params = {**where.params(tenant), "statuses": [str(s) for s in statuses]}
        rows = self.db.fetch_all(query("matching_ids"), {**params, "after": after, "limit": limit})
        return [row["id"] for row in rows]

    def events(self, tenant: str, task_id: uuid.UUID) -> list[TaskEvent]:
        self.get(tenant, task_id)
        rows = self.db.fetch_all(query("task_events"), {"id": task_id, "tenant": tenant})
        return [TaskEvent.from_row(r) for r in rows]

    def delete(self, task_id: uuid.UUID) -> None:
        with self.db.connection() as conn:
            conn.execute(query("delete_task"), {"id": task_id})

    # -- the API's transitions ------------------------------------------------------------------

    def cancel(self, tenant: str, task_id: uuid.UUID) -> Task:
        """A pending task becomes `cancelled` at once; a running one gets a cancel request (it
        stays `running` with `cancel_requested_at` set) and stops at its next checkpoint; a
        finished task is a conflict."""
        task = _task(self.writer.write(tr.CANCEL, {"id": task_id, "tenant": tenant}))
        if task is not None:
            _count_cancelled([task])
            return task
        current = self.get(tenant, task_id)
        if current.status is TaskStatus.RUNNING:  # a cancel was already requested
            return current
        raise TaskConflict(f"task is {current.status}; a finished task cannot be cancelled")

    def resubmit(self, tenant: str, task_id: uuid.UUID) -> Task:
        """Send a failed or cancelled task round again (with its full retries); else a conflict."""
        task = _task(self.writer.write(tr.RESUBMIT, {"id": task_id, "tenant": tenant}))
        if task is None:
            current = self.get(tenant, task_id)
            raise TaskConflict(
                f"task is {current.status}; only a failed or cancelled task can be retried"
            )
        return task

    def cancel_many(self, tenant: str, task_ids: Sequence[uuid.UUID]) -> list[Task]:
        """`cancel` for a batch in one statement: the tasks it changed (the others had
        finished, or a cancel was already requested)."""
        rows = self.writer.write_many(tr.CANCEL, [{"id": i, "tenant": tenant} for i in task_ids])
        tasks = [Task.from_row(row) for row in rows if row is not None]
        _count_cancelled(tasks)
        return tasks

    def resubmit_many(self, tenant: str, task_ids: Sequence[uuid.UUID]) -> list[Task]:
        """`resubmit` for a batch in one statement: the tasks it sent round again."""
        rows = self.writer.write_many(tr.RESUBMIT, [{"id": i, "tenant": tenant} for i in task_ids])
        return [Task.from_row(row) for row in rows if row is not None]

    # -- the worker's transitions (group-committed in a worker process) -------------------------

    def claim(self, task_id: uuid.UUID, worker_id: uuid.UUID | None = None) -> Task | None:
        """pending -> running; None when it was cancelled, finished, running or never existed."""
        return _task(self.writer.write(tr.CLAIM, {"id": task_id, "worker_id": worker_id}))

    def claim_many(
        self, task_ids: Sequence[uuid.UUID], worker_id: uuid.UUID | None = None
    ) -> dict[uuid.UUID, Task]:
        """Claim a batch in one statement: the tasks that were pending, by id."""
        rows = [{"id": task_id, "worker_id": worker_id} for task_id in task_ids]
        return {
            row["id"]: Task.from_row(row)
            for row in self.writer.write_many(tr.CLAIM, rows)
            if row is not None
        }

    def give_back(self, tasks: Sequence[Task]) -> int:
        """Undo this worker's claims of tasks it never started; returns how many."""
        moved = self.writer.write_many(tr.GIVE_BACK, [_attempt(task) for task in tasks])
        return sum(row is not None for row in moved)

    # The outcomes of an attempt (the Task its claim returned). Those a worker need not wait for
    # return their Write (`.wait()` to wait), which resolves to the moved row, or to None if
    # the attempt was not running any more (cancelled, or given up on by the reaper).

    def complete(self, attempt: Task, result: Any) -> Write:
        write = self.writer.submit(tr.COMPLETE, {**_attempt(attempt), "result": result})
        return _counted(write, attempt, "completed")

    def retry_later(self, attempt: Task, error: str, delay_seconds: float) -> Task | None:
        """Back to pending for another attempt; None if a cancel was requested meanwhile."""
        row = {**_attempt(attempt), "error": _clip(error), "delay_seconds": delay_seconds}
        again = _task(self.writer.write(tr.RETRY, row))
        if again is not None:
            counted().outcome(attempt, "retried")
        return again

    def fail(self, attempt: Task, error: str) -> Write:
        write = self.writer.submit(tr.FAIL, {**_attempt(attempt), "error": _clip(error)})
        return _counted(write, attempt, "failed")

    def stop(self, attempt: Task) -> Write:
        """A running task stopped after a cancel request: cancelled."""
        return _counted(self.writer.submit(tr.STOP, _attempt(attempt)), attempt, "cancelled")

    def interrupt(self, attempt: Task) -> Task | None:
        """A shutdown cut the attempt short: pending again, no retry spent."""
        return _task(self.writer.write(tr.INTERRUPT, _attempt(attempt)))

    def begin_late(self, attempt: Task) -> bool | None:
        """An attempt begins after waiting in its worker's lookahead: started_at moves to now.
        None if its claim no longer holds; else whether a cancel was requested meanwhile."""
        row = self.db.fetch_one(query("begin_late"), _attempt(attempt))
        return None if row is None else bool(row["cancel_requested"])

    def set_progress(self, task_id: uuid.UUID, percent: int) -> bool:
        """Record progress; True when a cancel has been requested for the task."""
        row = self.db.fetch_one(
            query("set_progress"), {"id": task_id, "progress": max(0, min(100, percent))}
        )
        return bool(row and row["cancel_requested"])

    def note_waiting(self, held: Sequence[tuple[str, str]]) -> None:
        """Record why pending tasks wait: (task id, reason) pairs from the broker's limits."""
        rows = [{"id": task_id, "reason": reason} for task_id, reason in held]
        with self.db.transaction() as conn:
            conn.execute(
                query("note_waiting"), {"rows": Json(rows), "ids": [r["id"] for r in rows]}
            )

    # -- the scheduler's transitions ------------------------------------------------------------

    def reap(self, *, lost_seconds: float, overrun_seconds: float, limit: int = 1_000) -> Reaped:
        with self.db.connection() as conn:
            [row] = tr.REAP.run(
                conn, lost_seconds=lost_seconds, overrun_seconds=overrun_seconds, limit=limit
            )
        reaped = Reaped(int(row["requeued"]), int(row["ended"]))
        counted().reaped("requeued", reaped.requeued)
        counted().reaped("ended", reaped.ended)
        return reaped


def _counted(write: Write, attempt: Task, outcome: str) -> Write:
    """Count the attempt's outcome once its write lands (not if the attempt was no longer
    its own, nor if the write failed)."""

    def landed(done: Write) -> None:
        if done.error is None and done.result is not None:
            counted().outcome(attempt, outcome)

    write.then(landed)
    return write


def _count_cancelled(tasks: Sequence[Task]) -> None:
    """Pending tasks cancelled at once (a running one's cancel counts when it stops)."""
    for task in tasks:
        if task.status is TaskStatus.CANCELLED:
            counted().outcome(task, "cancelled")


def _created(news: Sequence[NewTask], rows: list[Row], created: list[Row]) -> list[Task]:
    by_id = {row["id"]: row for row in created}
    return [new.task(row, by_id[row["id"]]) for new, row in zip(news, rows, strict=True)]
