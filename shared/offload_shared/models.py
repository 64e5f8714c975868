"""Values that cross module boundaries: task status and the rows the store returns."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, Self

__all__ = [
    "Artifact",
    "Task",
    "TaskEvent",
    "TaskStatus",
]


class TaskStatus(enum.StrEnum):
    """Equal to the strings stored in `offload.tasks.status`."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class FromRow:
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        names = _field_names(cls)  # type: ignore[arg-type]
        return cls(**{k: v for k, v in row.items() if k in names})


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


@dataclass(frozen=True)
class Task(FromRow):
    id: uuid.UUID
    tenant: str
    task_name: str
    task_type: str
    queue: str
    priority: int
    status: TaskStatus
    params: dict[str, Any]
    result: Any
    error_message: str | None
    progress: int
    attempts: int
    retry_count: int
    max_retries: int
    time_limit_ms: int
    created_at: datetime
    next_attempt_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None = None
    worker_id: uuid.UUID | None = None
    waiting: str | None = None  # a pending task held back by a limit: 'rate_limit', ...
    request_id: str | None = None  # the X-Request-ID of the API request that enqueued it

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TaskStatus(self.status))


@dataclass(frozen=True)
class TaskEvent(FromRow):
    id: int
    task_id: uuid.UUID
    status: TaskStatus
    attempt: int
    detail: str | None
    at: datetime


@dataclass(frozen=True)
class Artifact(FromRow):
    id: uuid.UUID
    task_id: uuid.UUID
    tenant: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    chunks: int
    created_at: datetime
    expires_at: datetime | None
