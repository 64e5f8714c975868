"""The task store: creating, reading and moving tasks through their statuses in Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from offload_shared.db import Database
from offload_shared.errors import TaskConflict, TaskNotFound
from offload_shared.models import Task, TaskEvent, TaskStatus
from offload_shared.sql import query

MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True)
class TaskFilter:
    status: TaskStatus | None = None
    task_type: str | None = None
    task_name: str | None = None

    def params(self, tenant: str) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "status": self.status,
            "task_type": self.task_type,
            "task_name": self.task_name,
        }


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

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "id": uuid.uuid4(), "params": Jsonb(self.params)}


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_sha256: str


@dataclass(frozen=True)
class Replay:
    """An earlier request with the same Idempotency-Key: its task and the response it got."""

    same_request: bool
    task_id: uuid.UUID | None
    response: dict[str, Any] | None


def _one(row: dict[str, Any] | None) -> Task | None:
    return Task.from_row(row) if row else None


class TaskStore:
    """Every method is one statement: a transition writes the row and its history together."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- client side ---------------------------------------------------------------------------

    def create(self, new: NewTask) -> Task:
        """Insert the task, its first history row and its outbox row in one statement."""
        row = self.db.fetch_one(query("insert_task"), new.row())
        assert row is not None
        return Task.from_row(row)

    def create_once(
        self,
        new: NewTask,
        key: IdempotencyKey,
        response_of: Callable[[Task], dict[str, Any]],
    ) -> Task | Replay:
        """Create the task unless the tenant already used `key`; then return the earlier one.

        The key is claimed first in the same transaction, so concurrent requests with one key
        queue up on it and exactly one creates a task; the others see the first's response.
        """
        ids = {"tenant": new.tenant, "key": key.key}
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
            row = conn.execute(query("insert_task"), new.row()).fetchone()
            assert row is not None
            task = Task.from_row(row)
            conn.execute(
                query("settle_idempotency_key"),
                {**ids, "task_id": task.id, "response": Jsonb(response_of(task))},
            )
        return task

    def outbox_done(self, task_id: uuid.UUID) -> None:
        """The task's message is in Redis: the relay need not publish it."""
        with self.db.connection() as conn:
            conn.execute(query("outbox_done"), {"id": task_id})

    def delete(self, task_id: uuid.UUID) -> None:
        with self.db.connection() as conn:
            conn.execute(query("delete_task"), {"id": task_id})

    def get(self, tenant: str, task_id: uuid.UUID) -> Task:
        task = _one(self.db.fetch_one(query("get_task"), {"id": task_id, "tenant": tenant}))
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        return task

    def find(self, tenant: str, where: TaskFilter, *, limit: int, offset: int) -> list[Task]:
        rows = self.db.fetch_all(
            query("list_tasks"), {**where.params(tenant), "limit": limit, "offset": offset}
        )
        return [Task.from_row(r) for r in rows]

    def count(self, tenant: str, where: TaskFilter) -> int:
        row = self.db.fetch_one(query("count_tasks"), where.params(tenant))
        return int(row["count"]) if row else 0

    def events(self, tenant: str, task_id: uuid.UUID) -> list[TaskEvent]:
        self.get(tenant, task_id)
        rows = self.db.fetch_all(query("task_events"), {"id": task_id, "tenant": tenant})
        return [TaskEvent.from_row(r) for r in rows]

    def cancel(self, tenant: str, task_id: uuid.UUID) -> Task:
        """Cancel a task that has not finished.

        A pending task becomes `cancelled` at once. A running one gets a cancel request (it stays
        `running` with `cancel_requested_at` set) and stops at its next checkpoint. A finished
        task is a conflict.
        """
        key = {"id": task_id, "tenant": tenant}
        task = _one(self.db.fetch_one(query("cancel_pending"), key))
        task = task or _one(self.db.fetch_one(query("request_cancel"), key))
        if task is not None:
            return task
        current = self.get(tenant, task_id)
        if current.status is TaskStatus.RUNNING:  # a cancel was already requested
            return current
        raise TaskConflict(f"task is {current.status}; a finished task cannot be cancelled")

    def retry(self, tenant: str, task_id: uuid.UUID) -> Task:
        """Send a failed or cancelled task round again (with its full retries); else a conflict."""
        task = _one(self.db.fetch_one(query("retry_task"), {"id": task_id, "tenant": tenant}))
        if task is None:
            current = self.get(tenant, task_id)
            raise TaskConflict(
                f"task is {current.status}; only a failed or cancelled task can be retried"
            )
        return task

    # -- worker side ---------------------------------------------------------------------------

    def mark_running(self, task_id: uuid.UUID, worker_id: uuid.UUID | None = None) -> Task | None:
        """Claim a pending task; None when it was cancelled, finished or never existed."""
        return _one(
            self.db.fetch_one(query("mark_running"), {"id": task_id, "worker_id": worker_id})
        )

    def mark_interrupted(self, task_id: uuid.UUID) -> Task | None:
        return _one(self.db.fetch_one(query("mark_interrupted"), {"id": task_id}))

    def mark_completed(self, task_id: uuid.UUID, result: Any) -> Task | None:
        return _one(
            self.db.fetch_one(query("mark_completed"), {"id": task_id, "result": Jsonb(result)})
        )

    def mark_retrying(self, task_id: uuid.UUID, error: str, delay_seconds: float) -> Task | None:
        return _one(
            self.db.fetch_one(
                query("mark_retrying"),
                {"id": task_id, "error": _clip(error), "delay_seconds": delay_seconds},
            )
        )

    def mark_failed(self, task_id: uuid.UUID, error: str) -> Task | None:
        return _one(self.db.fetch_one(query("mark_failed"), {"id": task_id, "error": _clip(error)}))

    def mark_cancelled(self, task_id: uuid.UUID) -> Task | None:
        return _one(self.db.fetch_one(query("mark_cancelled"), {"id": task_id}))

    def set_progress(self, task_id: uuid.UUID, percent: int) -> bool:
        """Record progress; True when a cancel has been requested for the task."""
        row = self.db.fetch_one(
            query("set_progress"), {"id": task_id, "progress": max(0, min(100, percent))}
        )
        return bool(row and row["cancel_requested"])


def _clip(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
