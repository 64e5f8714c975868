"""The scheduler's parts against real Postgres and Redis: relay, reaper, leader lock."""

import uuid

import pytest

from offload_scheduler.leader import LeaderLock
from offload_scheduler.reaper import reap_once
from offload_scheduler.relay import relay_once
from offload_shared.broker import disconnect, make_broker
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from tests.conftest import create_task
from tests.queues import message_ids
from tests.seeding import published

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}


@pytest.fixture
def publisher(infra, redis_client):
    broker = make_broker(infra.redis_url)
    yield Publisher(broker)
    disconnect(broker)


def age_outbox(db, task_id, seconds=10):
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.outbox SET created_at = now() - make_interval(secs => %(s)s),"
            " available_at = now() - make_interval(secs => %(s)s) WHERE task_id = %(id)s",
            {"s": seconds, "id": task_id},
        )


def queued(redis_client, queue="email"):
    return message_ids(redis_client, queue)


def outbox_ids(db):
    return {r["task_id"] for r in db.fetch_all("SELECT task_id FROM offload.outbox")}


def test_relay_publishes_due_rows_and_leaves_young_ones(db, tenant, publisher, redis_client):
    due, young = create_task(db, tenant), create_task(db, tenant)
    age_outbox(db, due.id)
    relay_once(db, publisher)
    assert str(due.id) in queued(redis_client)
    assert str(young.id) not in queued(redis_client)  # still its publisher's to send
    assert due.id not in outbox_ids(db)
    assert young.id in outbox_ids(db)


def test_relay_drops_rows_of_tasks_no_longer_pending(db, tenant, publisher, redis_client):
    task = create_task(db, tenant)
    TaskStore(db).cancel(tenant, task.id)
    age_outbox(db, task.id)
    assert relay_once(db, publisher) == 0
    assert task.id not in outbox_ids(db)
    assert queued(redis_client) == set()


def test_relay_keeps_rows_while_redis_is_down(db, tenant, infra):
    task = create_task(db, tenant)
    age_outbox(db, task.id)
    broker = make_broker("redis://127.0.0.1:1/0")
    assert relay_once(db, Publisher(broker)) == 0
    disconnect(broker)
    assert task.id in outbox_ids(db)


def lose_worker(db, task_id, *, seconds_ago=60):
    """The task runs on a worker that stopped beating `seconds_ago`."""
    worker = uuid.uuid4()
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO offload.workers (id, queue, hostname, pid, seen_at)"
            " VALUES (%(w)s, 'email', 'gone', 1, now() - make_interval(secs => %(s)s))",
            {"w": worker, "s": seconds_ago},
        )
    TaskStore(db).claim(task_id, worker)
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.tasks SET started_at = now() - make_interval(secs => %(s)s)"
            " WHERE id = %(id)s",
            {"s": seconds_ago, "id": task_id},
        )
    return worker


def test_reaper_requeues_a_task_whose_worker_died_as_a_failed_attempt(db, tenant):
    task = create_task(db, tenant)
    published(db, task.id)
    lose_worker(db, task.id)
    reaped = reap_once(TaskStore(db), lost_seconds=10)
    assert reaped.requeued >= 1
    after = TaskStore(db).get(tenant, task.id)
    assert (after.status, after.retry_count, after.worker_id) == ("pending", 1, None)
    assert after.error_message == "worker lost while running attempt 1"
    assert task.id in outbox_ids(db)


def test_reaper_fails_a_task_that_keeps_killing_its_worker(db, tenant):
    task = create_task(db, tenant, max_retries=2)
    for _ in range(3):
        published(db, task.id)
        lose_worker(db, task.id)
        reap_once(TaskStore(db), lost_seconds=10)
    after = TaskStore(db).get(tenant, task.id)
    assert (after.status, after.attempts, after.retry_count) == ("failed", 3, 2)
    assert "no retries left" in after.error_message


def test_reaper_leaves_tasks_of_live_workers_alone(db, tenant):
    task = create_task(db, tenant)
    worker = lose_worker(db, task.id)
    with db.connection() as conn:
        conn.execute("UPDATE offload.workers SET seen_at = now() WHERE id = %(w)s", {"w": worker})
    reap_once(TaskStore(db), lost_seconds=10)
    assert TaskStore(db).get(tenant, task.id).status == "running"


def test_only_one_scheduler_holds_the_leader_lock(infra):
    first, second = LeaderLock(infra.database_url), LeaderLock(infra.database_url)
    try:
        assert first.ensure()
        assert not second.ensure()
        first.release()  # the leader dies: its session and lock go
        assert second.ensure()
        assert not first.ensure()
    finally:
        first.release()
        second.release()
