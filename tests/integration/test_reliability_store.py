"""Idempotency keys, the retry endpoint's transition, the in-transaction enqueue and delays."""

import threading
import uuid

import psycopg
import pytest

from offload_shared.catalog import get_spec
from offload_shared.enqueue import enqueue_in_transaction, new_task
from offload_shared.errors import TaskConflict
from offload_shared.store import IdempotencyKey, Replay, TaskFilter, TaskStore
from tests.seeding import published

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}


def email(tenant, **kw):
    return new_task(get_spec("email.send_notification"), tenant, PARAMS, **kw)


def outbox_has(db, task_id):
    row = db.fetch_one("SELECT 1 AS x FROM offload.outbox WHERE task_id = %(id)s", {"id": task_id})
    return row is not None


def test_same_key_same_request_replays_the_first_response(db, tenant):
    store = TaskStore(db)
    key = IdempotencyKey("order-42", "hash-a")
    first = store.create_once([email(tenant)], key, lambda ts: {"task_id": str(ts[0].id)})
    again = store.create_once([email(tenant)], key, lambda ts: {"task_id": "never called"})
    assert isinstance(again, Replay)
    assert again.same_request
    assert again.response == {"task_id": str(first[0].id)}
    assert again.task_id == first[0].id
    assert store.count(tenant, TaskFilter()) == 1


def test_same_key_different_request_is_flagged(db, tenant):
    store = TaskStore(db)
    store.create_once([email(tenant)], IdempotencyKey("k", "hash-a"), lambda ts: {})
    replay = store.create_once([email(tenant)], IdempotencyKey("k", "hash-b"), lambda ts: {})
    assert isinstance(replay, Replay)
    assert not replay.same_request


def test_keys_are_per_tenant(db, tenant):
    store = TaskStore(db)
    store.create_once([email(tenant)], IdempotencyKey("k", "h"), lambda ts: {})
    other = store.create_once([email(f"{tenant}-b")], IdempotencyKey("k", "h"), lambda ts: {})
    assert not isinstance(other, Replay)


def test_concurrent_requests_with_one_key_create_exactly_one_task(db, tenant):
    store = TaskStore(db)
    outcomes = []
    barrier = threading.Barrier(20)

    def attempt():
        barrier.wait()
        outcomes.append(
            store.create_once(
                [email(tenant)], IdempotencyKey("k", "h"), lambda ts: {"task_id": str(ts[0].id)}
            )
        )

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    created = [o for o in outcomes if not isinstance(o, Replay)]
    replays = [o for o in outcomes if isinstance(o, Replay)]
    assert len(outcomes) == 20
    assert len(created) == 1
    assert {r.task_id for r in replays} == {created[0][0].id}
    assert store.count(tenant, TaskFilter()) == 1


def test_resubmit_sends_a_failed_task_round_again_and_keeps_its_history(db, tenant):
    store = TaskStore(db)
    task = store.create(email(tenant, max_retries=0))
    published(db, task.id)
    store.fail(store.claim(task.id), "SMTP 550 no such user")
    again = store.resubmit(tenant, task.id)
    assert (again.status, again.retry_count, again.error_message, again.attempts) == (
        "pending",
        0,
        None,
        1,
    )
    assert outbox_has(db, task.id)
    statuses = [(e.status, e.detail) for e in store.events(tenant, task.id)]
    assert statuses == [
        ("pending", None),
        ("running", None),
        ("failed", "SMTP 550 no such user"),
        ("pending", "retried by request"),
    ]


def test_resubmit_refuses_a_pending_or_completed_task(db, tenant):
    store = TaskStore(db)
    task = store.create(email(tenant))
    with pytest.raises(TaskConflict):
        store.resubmit(tenant, task.id)


def test_enqueue_in_the_callers_transaction_follows_its_fate(db, infra, tenant):
    with psycopg.connect(infra.database_url) as conn:
        with conn.transaction():
            kept = enqueue_in_transaction(conn, email(tenant))
        with conn.transaction(force_rollback=True):  # the application's own work failed
            dropped = enqueue_in_transaction(conn, email(tenant))
    store = TaskStore(db)
    assert store.get(tenant, kept.id).status == "pending"
    assert outbox_has(db, kept.id)  # the relay publishes it
    assert store.count(tenant, TaskFilter()) == 1
    assert not outbox_has(db, dropped.id)


def test_a_delay_sets_the_next_attempt_time_and_the_outbox_due_time(db, tenant):
    task = TaskStore(db).create(email(tenant, delay_seconds=120))
    assert 110 < (task.next_attempt_at - task.created_at).total_seconds() <= 120
    due = db.fetch_one(
        "SELECT available_at FROM offload.outbox WHERE task_id = %(id)s", {"id": task.id}
    )
    assert due["available_at"] == task.next_attempt_at


def test_an_unknown_task_cannot_be_retried(db, tenant):
    from offload_shared.errors import TaskNotFound

    with pytest.raises(TaskNotFound):
        TaskStore(db).resubmit(tenant, uuid.uuid4())
