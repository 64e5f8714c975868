"""Seeding helpers for the analytics tests: tasks with the history we need, set by direct SQL.

tests/integration/test_analytics_seeding.py proves `seed` writes exactly the row asked for.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from offload_shared.catalog import get_spec
from offload_shared.db import Database
from offload_shared.enqueue import new_task
from offload_shared.models import Task
from offload_shared.store import TaskStore

PARAMS: dict[str, dict[str, Any]] = {
    "email.send_notification": {"to": "a@example.com", "subject": "s", "body": "b"},
    "reports.generate_excel": {"report_name": "r", "columns": ["a"], "rows": [[1]]},
    "analytics.update_dashboard": {},
    "analytics.process_data": {
        "data_type": "task_trends",
        "date_range": {"start_date": "2026-01-01", "end_date": "2026-01-02"},
    },
    "analytics.sync_metrics": {"source_url": "https://example.com/metrics"},
    "cleanup.old_records": {},
}

SET_HISTORY = """
UPDATE offload.tasks
SET status = %(status)s, created_at = %(created_at)s, started_at = %(started_at)s,
    completed_at = %(completed_at)s, error_message = %(error)s, retry_count = %(retry_count)s,
    attempts = %(attempts)s
WHERE id = %(id)s
"""


def seed(
    db: Database,
    tenant: str,
    task_name: str = "email.send_notification",
    *,
    status: str,
    created_at: datetime,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    error: str | None = None,
    retry_count: int = 0,
) -> uuid.UUID:
    """A task of `task_name` with exactly this status, these timestamps, error and retries."""
    spec = get_spec(task_name)
    task = TaskStore(db).create(new_task(spec, tenant, spec.load_params(PARAMS[task_name])))
    attempts = 0 if started_at is None else retry_count + 1
    with db.connection() as conn:
        conn.execute(
            SET_HISTORY,
            {
                "id": task.id,
                "status": status,
                "created_at": created_at,
                "started_at": started_at,
                "completed_at": completed_at,
                "error": error,
                "retry_count": retry_count,
                "attempts": attempts,
            },
        )
    return task.id


def running_job(db: Database, tenant: str, task_name: str, params: dict[str, Any]) -> Task:
    """A job task as its actor receives it: params validated, claimed (running)."""
    spec = get_spec(task_name)
    store = TaskStore(db)
    created = store.create(new_task(spec, tenant, spec.load_params(params)))
    task = store.claim(created.id)
    assert task is not None
    return task


def published(db: Database, task_id: uuid.UUID) -> None:
    """What the publisher's outbox sweeper does once a task's message is in Redis."""
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.outbox WHERE task_id = %(id)s", {"id": task_id})
