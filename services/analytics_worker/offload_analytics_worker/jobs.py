"""The analytics queue's jobs as plain functions of (database, settings, task).

Actors pass the worker's pool and settings; tests pass their own. Each job only reads or
changes the rows of the task's tenant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from offload_analytics_worker import cleanup, dashboard, failures, sync, trends
from offload_analytics_worker.cleanup import Progress
from offload_shared import snapshots
from offload_shared.db import Database
from offload_shared.models import Task
from offload_shared.settings import Settings

PROCESSORS = {"task_trends": trends.compute, "failure_breakdown": failures.compute}


def update_dashboard(db: Database, task: Task, now: datetime | None = None) -> dict[str, Any]:
    """Compute the dashboard, keep it as the tenant's latest "dashboard" snapshot, return it."""
    data = dashboard.compute(db, task.tenant, now)
    snapshots.save(db, task.tenant, "dashboard", task.id, data)
    return data


def process_data(db: Database, task: Task) -> dict[str, Any]:
    """task_trends or failure_breakdown over the date range; kept as a snapshot of that kind."""
    kind = task.params["data_type"]
    date_range = task.params["date_range"]
    data = PROCESSORS[kind](
        db,
        task.tenant,
        date.fromisoformat(date_range["start_date"]),
        date.fromisoformat(date_range["end_date"]),
    )
    snapshots.save(db, task.tenant, kind, task.id, data)
    return data


def sync_metrics(db: Database, settings: Settings, task: Task) -> dict[str, Any]:
    return sync.sync_metrics(db, settings, task.tenant, task.params)


def cleanup_old_records(
    db: Database, task: Task, progress: Progress = cleanup.no_progress
) -> dict[str, Any]:
    return cleanup.cleanup_old_records(
        db,
        task.tenant,
        task.id,
        days_to_keep=int(task.params.get("days_to_keep", 90)),
        progress=progress,
    )
