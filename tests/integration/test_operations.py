"""operations.py against real Postgres and Redis: the figures operators see, the transitions
feed, worker processes, and bulk retry / cancel of a filtered set."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from offload_shared import operations as ops
from offload_shared.models import TaskStatus
from offload_shared.publisher import Publisher
from offload_shared.store import TaskFilter, TaskStore
from offload_shared.worker_runtime import WorkerRuntime
from tests.conftest import create_task, submit_task
from tests.queues import ready_ids

REPORT = "reports.generate_excel"
REPORT_PARAMS = {"report_name": "ops", "task_history": {"status": "failed"}}


@pytest.fixture
def store(db):
    return TaskStore(db)


def finish(store, task, outcome):
    claimed = store.claim(task.id)
    if outcome == "completed":
        assert store.complete(claimed, {"ok": True}).wait()
    else:
        assert store.fail(claimed, "boom").wait()
    return claimed


def by_queue(stats):
    return {s.queue: s for s in stats}


def test_queue_stats_count_each_state_for_one_tenant(store, tenant):
    ready = [create_task(store.db, tenant) for _ in range(3)]
    create_task(store.db, tenant, delay_seconds=600)
    running = store.claim(ready[0].id)
    finish(store, create_task(store.db, tenant), "completed")
    finish(store, create_task(store.db, tenant), "failed")
    held = create_task(store.db, tenant)
    store.note_waiting([(str(held.id), "rate_limit")])
    create_task(store.db, f"{tenant}-other")  # another tenant's: not counted

    stats = by_queue(ops.queue_stats(store.db, tenant))
    email = stats["email"]
    assert (email.ready, email.delayed, email.waiting, email.running) == (2, 1, 1, 1)
    assert (email.completed_last_hour, email.failed_last_hour) == (1, 1)
    assert 0 <= email.oldest_ready_age_seconds < 60
    assert stats["reports"] == ops.QueueStats("reports")  # idle queues appear, all zeros
    assert running.status is TaskStatus.RUNNING

    everyone = by_queue(ops.queue_stats(store.db, None))["email"]
    assert everyone.ready >= 3
    assert everyone.completed_last_hour == 0


def test_throughput_buckets_finished_tasks_per_queue(store, tenant):
    finish(store, create_task(store.db, tenant), "completed")
    finish(store, create_task(store.db, tenant), "completed")
    finish(store, create_task(store.db, tenant), "failed")
    buckets = ops.throughput(
        store.db, tenant, since=timedelta(hours=1), bucket=timedelta(minutes=1)
    )
    assert len(buckets) == 61  # every minute of the hour, this one included, for the one queue
    assert {b.queue for b in buckets} == {"email"}
    assert sum(b.completed for b in buckets) == 2
    assert sum(b.failed for b in buckets) == 1
    assert [b.start for b in buckets] == sorted(b.start for b in buckets)
    assert buckets[-1].completed == 2  # the current minute


def test_workers_show_alive_processes_and_only_the_tenants_running_tasks(store, db, tenant):
    runtime = WorkerRuntime(queue="email", store=store, outbox=None, threads=4)  # type: ignore[arg-type]
    db.fetch_all(
        "INSERT INTO offload.workers (id, queue, hostname, pid, threads) "
        "VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s, %(threads)s) RETURNING id",
        runtime.identity(),
    )
    mine = store.claim(create_task(db, tenant).id, runtime.id)
    store.claim(create_task(db, f"{tenant}-other").id, runtime.id)
    try:
        found = {w.id: w for w in ops.workers(db, tenant, lost_seconds=10)}[runtime.id]
        assert (found.queue, found.threads, found.alive) == ("email", 4, True)
        assert [t.id for t in found.running] == [mine.id]
        assert found.running[0].task_name == "email.send_notification"
        assert (
            len({w.id: w for w in ops.workers(db, None, lost_seconds=10)}[runtime.id].running) == 2
        )
        db.fetch_all(
            "UPDATE offload.workers SET seen_at = now() - interval '1 minute' WHERE id = %(id)s "
            "RETURNING id",
            {"id": runtime.id},
        )
        assert not {w.id: w for w in ops.workers(db, tenant, lost_seconds=10)}[runtime.id].alive
    finally:
        db.fetch_all(
            "DELETE FROM offload.workers WHERE id = %(id)s RETURNING id", {"id": runtime.id}
        )


def test_events_after_follow_the_tenants_transitions_from_a_cursor(store, tenant):
    cursor = ops.latest_event_id(store.db)
    task = create_task(store.db, tenant)
    create_task(store.db, f"{tenant}-other")
    finish(store, task, "completed")
    events = ops.events_after(store.db, tenant, cursor)
    assert [(e.task_id, e.status) for e in events] == [
        (task.id, TaskStatus.PENDING),
        (task.id, TaskStatus.RUNNING),
        (task.id, TaskStatus.COMPLETED),
    ]
    assert events[0].queue == "email"
    assert events[0].task_name == "email.send_notification"
    assert ops.events_after(store.db, tenant, events[-1].id) == []
    assert len(ops.events_after(store.db, tenant, cursor, limit=2)) == 2


def test_bulk_retry_resubmits_and_publishes_only_the_matching_tasks(
    store, db, redis_broker, redis_client, tenant
):
    publisher = Publisher(redis_broker)
    failed = [finish(store, create_task(db, tenant), "failed") for _ in range(3)]
    report = finish(store, create_task(db, tenant, REPORT, REPORT_PARAMS), "failed")
    finish(store, create_task(db, tenant), "completed")  # not retryable
    finish(store, create_task(db, f"{tenant}-other"), "failed")  # another tenant's
    where = TaskFilter(queue="email")

    assert ops.bulk_apply(store, publisher, tenant, "retry", where, dry_run=True) == ops.BulkResult(
        3, 0
    )
    assert store.get(tenant, failed[0].id).status is TaskStatus.FAILED  # a dry run changes nothing

    seen: list[int] = []
    result = ops.bulk_apply(
        store, publisher, tenant, "retry", where, dry_run=False, progress=seen.append
    )
    assert result == ops.BulkResult(3, 3)
    assert seen == [3]
    assert {store.get(tenant, t.id).status for t in failed} == {TaskStatus.PENDING}
    assert store.get(tenant, report.id).status is TaskStatus.FAILED
    assert {str(t.id) for t in failed} <= set(ready_ids(redis_client, "email"))


def test_bulk_cancel_pages_with_a_limit_and_requests_a_running_tasks_stop(
    store, db, redis_broker, redis_client, tenant
):
    publisher = Publisher(redis_broker)
    pending = [submit_task(db, redis_broker, tenant) for _ in range(5)]
    running = store.claim(pending[0].id)
    since = datetime.now(UTC) - timedelta(minutes=5)
    where = TaskFilter(created_after=since)

    first = ops.bulk_apply(store, publisher, tenant, "cancel", where, dry_run=False, limit=2)
    assert first == ops.BulkResult(5, 2)
    rest = ops.bulk_apply(store, publisher, tenant, "cancel", where, dry_run=False)
    assert rest == ops.BulkResult(3, 3)  # the running one still matches until it stops
    statuses = {t.id: store.get(tenant, t.id) for t in pending}
    assert statuses[running.id].status is TaskStatus.RUNNING
    assert statuses[running.id].cancel_requested_at is not None
    assert {t.status for i, t in statuses.items() if i != running.id} == {TaskStatus.CANCELLED}
    cancelled = {str(i) for i in statuses if i != running.id}
    assert not cancelled & set(ready_ids(redis_client, "email"))  # taken out of the queue


def test_task_filter_by_queue_time_range_and_id_prefix(store, tenant):
    email = create_task(store.db, tenant)
    report = create_task(store.db, tenant, REPORT, REPORT_PARAMS)
    assert [t.id for t in store.find(tenant, TaskFilter(queue="reports"), limit=10, offset=0)] == [
        report.id
    ]
    later = TaskFilter(created_after=report.created_at)
    assert store.count(tenant, later) == 1
    assert store.count(tenant, TaskFilter(created_before=report.created_at)) == 1
    prefix = TaskFilter(id_prefix=str(email.id)[:8])
    assert [t.id for t in store.find(tenant, prefix, limit=10, offset=0)] == [email.id]
    assert store.count(tenant, TaskFilter(id_prefix=str(uuid.uuid4()) + "x")) == 0
