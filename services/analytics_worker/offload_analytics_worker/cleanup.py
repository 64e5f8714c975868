"""cleanup.old_records: delete one tenant's old data in bounded batches.

For the task's tenant only:
- finished tasks (completed, failed, cancelled) whose completed_at is older than the window,
  with their history, email deliveries and artifacts (ON DELETE CASCADE); pending and running
  tasks, and the cleanup task itself, are never touched;
- artifacts whose expiry has passed;
- analytics snapshots older than the window, except the latest of each kind.

Each statement deletes at most `batch_size` rows and commits on its own, so locks stay short
and a cancel or a crash loses nothing done so far; progress is reported between batches
(which is also where a requested cancel stops the cleanup).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from offload_analytics_worker.queries import sql
from offload_shared.db import Database
from offload_shared.operations import cleanup_plan

log = logging.getLogger(__name__)

BATCH_SIZE = 1_000
Progress = Callable[[int], None]


def no_progress(percent: int) -> None:
    """Progress is not reported (when run outside a worker)."""


@dataclass
class _Tally:
    """Rows deleted so far against the rows there were to delete (for the progress figure)."""

    planned: int
    progress: Progress
    done: int = 0

    def add(self, rows: int) -> None:
        self.done += rows
        self.progress(min(99, self.done * 100 // max(self.planned, 1)))


def cleanup_old_records(
    db: Database,
    tenant: str,
    task_id: uuid.UUID,
    *,
    days_to_keep: int,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    plan = cleanup_plan(db, tenant, days_to_keep=days_to_keep, now=now, keep_task_id=task_id)
    cutoff = plan.cutoff
    key = {"tenant": tenant, "cutoff": cutoff, "now": now, "keep_task_id": task_id}
    tally = _Tally(plan.total, progress)
    deleted = {"tasks": 0, "artifacts": 0, "snapshots": 0}

    while True:  # tasks first: their artifacts go with them
        row = db.fetch_one(sql("cleanup_delete_tasks"), key | {"limit": batch_size}) or {}
        tasks, artifacts = int(row.get("tasks", 0)), int(row.get("artifacts", 0))
        deleted["tasks"] += tasks
        deleted["artifacts"] += artifacts
        tally.add(tasks)
        if tasks < batch_size:
            break
    for kind, statement in (
        ("artifacts", "cleanup_delete_expired_artifacts"),
        ("snapshots", "cleanup_delete_snapshots"),
    ):
        while True:
            rows = len(db.fetch_all(sql(statement), key | {"limit": batch_size}))
            deleted[kind] += rows
            tally.add(rows)
            if rows < batch_size:
                break
    log.info(
        "cleanup for task %s deleted %d tasks, %d artifacts, %d snapshots",
        task_id,
        deleted["tasks"],
        deleted["artifacts"],
        deleted["snapshots"],
    )
    return deleted | {"days_to_keep": days_to_keep, "cutoff": cutoff.astimezone(UTC).isoformat()}
