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


# Many tasks at once, set-based: one INSERT ... SELECT over generate_series (a million rows in
# seconds). Names, queues and statuses cycle through a fixed mix; created_at spreads evenly over
# the `span_seconds` before now, newest last; finished tasks started a second after creation
# and took up to 9 s. Used by the dashboard's browser test (a report over many rows) and by
# bench/ui.py (a million rows).
SEED_MANY = """
INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, priority, status, params,
                           result, error_message, progress, attempts, retry_count, max_retries,
                           time_limit_ms, created_at, started_at, completed_at)
SELECT gen_random_uuid(), %(tenant)s, m.task_name, m.task_type, m.queue, 1 + i %% 10, s.status,
       '{}'::jsonb, NULL, CASE WHEN s.status = 'failed' THEN 'seeded failure' END,
       CASE WHEN s.status = 'completed' THEN 100 ELSE 0 END,
       CASE WHEN s.status IN ('pending', 'cancelled') THEN 0 ELSE 1 END, 0, 3, 60000, at,
       CASE WHEN s.status IN ('completed', 'failed') THEN at + interval '1 second' END,
       CASE WHEN s.status IN ('completed', 'failed')
            THEN at + interval '1 second' + (i %% 9) * interval '1 second' END
FROM generate_series(1, %(n)s) AS i
CROSS JOIN LATERAL (
    SELECT now() - (%(n)s - i) * (%(span)s::float8 / %(n)s) * interval '1 second' AS at
) t
CROSS JOIN LATERAL (
    SELECT (ARRAY['email.send_notification', 'reports.generate_excel',
                  'analytics.update_dashboard', 'email.send_confirmation'])[1 + i %% 4]
               AS task_name,
           (ARRAY['email', 'report', 'analytics', 'email'])[1 + i %% 4] AS task_type,
           (ARRAY['email', 'reports', 'analytics', 'email'])[1 + i %% 4] AS queue
) m
CROSS JOIN LATERAL (
    SELECT CASE WHEN i / 7 %% 100 < %(completed_pct)s THEN 'completed'
                WHEN i / 7 %% 100 < %(completed_pct)s + 3 THEN 'failed'
                WHEN i / 7 %% 100 < %(completed_pct)s + 4 THEN 'cancelled'
                ELSE 'pending' END AS status
) s
"""


def seed_many(
    db: Database, tenant: str, n: int, *, span_seconds: float = 86_400, completed_pct: int = 90
) -> None:
    """`n` tasks of `tenant` in one statement: `completed_pct` % completed, 3 % failed, 1 %
    cancelled, the rest pending (no history rows, no outbox rows: nothing is published, but a
    running scheduler's reconciliation would publish the pending ones: seed 100 % completed
    beside a live stack)."""
    with db.connection() as conn:
        conn.execute("SET statement_timeout = 0")
        try:
            conn.execute(
                SEED_MANY,  # type: ignore[arg-type]
                {"tenant": tenant, "n": n, "span": span_seconds, "completed_pct": completed_pct},
            )
        finally:
            conn.execute("RESET statement_timeout")
