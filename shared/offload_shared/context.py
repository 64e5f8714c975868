"""The one thing a task function receives: its TaskContext.

    @task_actor("reports.generate_excel")
    def generate_excel(ctx: TaskContext) -> dict[str, Any]:
        ...ctx.task, ctx.params, ctx.db, ctx.settings, ctx.artifacts...
        ctx.checkpoint(50)  # progress; raises TaskCancelled once a cancel was requested
        return {"rows": 10}  # a small JSON-able result, recorded with the task

The worker's status middleware builds it after claiming the task (params come from Postgres,
never from the message), so every worker's tasks have the same signature, and a test builds
one of its own to call a task function without a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offload_shared.artifacts import ArtifactStore
from offload_shared.db import Database
from offload_shared.models import Task
from offload_shared.settings import Settings

__all__ = [
    "TaskContext",
]


@dataclass(frozen=True)
class TaskContext:
    task: Task  # the claimed attempt: id, tenant, params, attempts, retry_count, ...
    db: Database  # the worker process's Postgres pool
    settings: Settings  # the worker's configuration (e.g. smtp)
    artifacts: ArtifactStore  # where the files a task produces are kept
    checkpoint: Callable[[int], None]  # write progress 0-100; raises TaskCancelled on cancel

    @property
    def params(self) -> dict[str, Any]:
        return self.task.params
