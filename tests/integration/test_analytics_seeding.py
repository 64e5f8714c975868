"""The seeding helper writes exactly the row it is asked for."""

from datetime import UTC, datetime, timedelta

from offload_shared.store import TaskStore
from tests.seeding import seed


def test_seed_writes_exactly_the_requested_row(db, tenant):
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    task_id = seed(
        db,
        tenant,
        "reports.generate_excel",
        status="failed",
        created_at=created,
        started_at=created + timedelta(seconds=5),
        completed_at=created + timedelta(seconds=9),
        error="ValueError: bad",
        retry_count=2,
    )
    task = TaskStore(db).get(tenant, task_id)
    assert (task.status, task.task_type, task.queue) == ("failed", "report", "reports")
    assert (task.created_at, task.completed_at) == (created, created + timedelta(seconds=9))
    assert (task.error_message, task.retry_count, task.attempts) == ("ValueError: bad", 2, 3)
