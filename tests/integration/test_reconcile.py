"""Reconciliation on real Postgres and Redis: a Redis that lost its data is rebuilt."""

import uuid
from datetime import timedelta

import pytest

from offload_scheduler.reconcile import Reconciler
from offload_shared.broker import disconnect, make_broker
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit, submit_many
from offload_shared.publisher import Publisher
from offload_shared.redis_queue import EPOCH_MS, QueueKeys
from offload_shared.store import TaskStore
from tests.queues import delayed_ids, message_ids, ready_ids

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}
SPEC = get_spec("email.send_notification")


@pytest.fixture
def broker(infra, redis_client):
    broker = make_broker(infra.redis_url)
    yield broker
    disconnect(broker)


@pytest.fixture
def reconciler(db, broker):
    return Reconciler(db, broker.redis, Publisher(broker), window_seconds=30, slow_walk_every=0)


def rebuild(reconciler) -> int:
    """Passes until the rebuild is over; the messages put back."""
    restored = reconciler.run_once()
    while reconciler.rebuilding is not None:
        restored += reconciler.run_once()
    return restored


def mine(ids, tasks):
    wanted = {str(t.id) for t in tasks}
    return [i for i in ids if i in wanted]


def test_a_flushed_redis_gets_every_pending_message_back_in_order(
    db, tenant, broker, reconciler, redis_client
):
    rebuild(reconciler)  # whatever earlier tests left: this Redis is now in step
    store = TaskStore(db)
    # One at a time: Postgres orders a level by ready time (the tasks of one batch share it).
    ready = [
        submit(store, Publisher(broker), new_task(SPEC, tenant, PARAMS, priority=p))
        for p in (1, 7, 3, 7, 10)
    ]
    later = submit_many(
        store, Publisher(broker), [new_task(SPEC, tenant, PARAMS, delay_seconds=600)]
    )
    assert reconciler.run_once() == 0  # in step: nothing to put back
    expected_order = mine(ready_ids(redis_client, "email"), ready)

    redis_client.flushdb()  # Redis lost everything
    assert rebuild(reconciler) >= len(ready) + len(later)
    assert mine(ready_ids(redis_client, "email"), ready) == expected_order  # same places
    assert [str(t.id) for t in sorted(ready, key=lambda t: -t.priority)] == expected_order
    assert str(later[0].id) in delayed_ids(redis_client, "email")
    due = redis_client.zscore(QueueKeys.of("email").delayed, str(later[0].id))
    assert due == pytest.approx(later[0].next_attempt_at.timestamp() * 1000 - EPOCH_MS, abs=1)
    assert reconciler.run_once() == 0  # the epoch key records the rebuild


def test_a_task_still_queued_is_left_in_its_place(db, tenant, broker, reconciler, redis_client):
    rebuild(reconciler)
    store = TaskStore(db)
    [kept, lost] = submit_many(store, Publisher(broker), [new_task(SPEC, tenant, PARAMS)] * 2)
    keys = QueueKeys.of("email")
    place = redis_client.zscore(keys.ready, str(kept.id))
    redis_client.zrem(keys.ready, str(lost.id))  # a replica that missed this write
    redis_client.hdel(keys.msgs, str(lost.id))
    redis_client.delete(broker.redis.epoch_key)  # ...and now serves as the master
    rebuild(reconciler)
    assert redis_client.zscore(keys.ready, str(kept.id)) == place
    assert {str(kept.id), str(lost.id)} <= message_ids(redis_client, "email")


def test_between_rebuilds_a_long_pending_task_whose_message_went_missing_is_put_back(
    db, tenant, broker, reconciler, redis_client
):
    rebuild(reconciler)
    store = TaskStore(db)
    [old, young] = submit_many(store, Publisher(broker), [new_task(SPEC, tenant, PARAMS)] * 2)
    db.fetch_one(
        "UPDATE offload.tasks SET created_at = created_at - %(age)s WHERE id = %(id)s RETURNING id",
        {"age": timedelta(minutes=5), "id": old.id},
    )
    keys = QueueKeys.of("email")
    for task in (old, young):  # e.g. evicted
        redis_client.zrem(keys.ready, str(task.id))
        redis_client.hdel(keys.msgs, str(task.id))
    for _ in range(50):  # the slow walk: one batch per pass over what other tests left too
        reconciler.run_once()
        if str(old.id) in message_ids(redis_client, "email"):
            break
    assert str(old.id) in ready_ids(redis_client, "email")
    assert str(young.id) not in message_ids(redis_client, "email")  # within the window


def test_the_slow_walk_reads_one_batch_per_tenth_of_the_window(db, broker, reconciler, monkeypatch):
    rebuild(reconciler)
    paced = Reconciler(db, broker.redis, Publisher(broker), window_seconds=30)
    paced.run_once()  # the epoch is right: a slow-walk pass
    batches = []
    monkeypatch.setattr(paced, "_pending_after", lambda *a: batches.append(a) or ([], a[0]))
    for _ in range(5):
        paced.run_once()
    assert batches == []  # the next one is 3 s away


def test_a_new_server_is_detected_by_its_run_id(broker, reconciler, redis_client, caplog):
    rebuild(reconciler)
    broker.redis.set_epoch(uuid.uuid4().hex)  # as recorded by a server that is gone
    caplog.clear()
    rebuild(reconciler)
    assert "Redis restarted or failed over" in caplog.text
    assert redis_client.get(broker.redis.epoch_key).decode() == redis_client.info()["run_id"]
