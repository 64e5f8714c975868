"""Reconciliation on real Postgres and Redis: a Redis that lost its data is rebuilt."""

import contextlib
import uuid
from datetime import timedelta

import pytest

from offload_scheduler import reconcile
from offload_scheduler.reconcile import Reconciler
from offload_shared.broker import disconnect, make_broker
from offload_shared.broker.layout import EPOCH_MS, QueueKeys
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit, submit_many
from offload_shared.errors import BrokerUnavailable
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from tests.conftest import wait_for
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


def walk_until_rebuilt(reconciler) -> None:
    """Passes (a failed one is retried, as the scheduler does) until the rebuild is done; the
    shared test database may hold many pending tasks of other tests, so no fixed count."""

    def one_pass() -> bool:
        with contextlib.suppress(BrokerUnavailable):
            reconciler.run_once()
        return reconciler.rebuilding is None

    wait_for(one_pass, timeout=60, interval=0)


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
    place = redis_client.zscore(keys.ready_of(tenant), str(kept.id))
    redis_client.zrem(keys.ready_of(tenant), str(lost.id))  # a replica that missed this write
    redis_client.hdel(keys.msgs, str(lost.id))
    redis_client.delete(broker.redis.epoch_key)  # ...and now serves as the master
    rebuild(reconciler)
    assert redis_client.zscore(keys.ready_of(tenant), str(kept.id)) == place
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
        redis_client.zrem(keys.ready_of(tenant), str(task.id))
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


def test_a_stale_ready_copy_of_a_task_in_backoff_goes_back_to_the_delayed_set(
    db, tenant, broker, reconciler, redis_client
):
    rebuild(reconciler)
    [task] = submit_many(TaskStore(db), Publisher(broker), [new_task(SPEC, tenant, PARAMS)])
    # The master retried it with a backoff; the replica that became master never saw that.
    row = db.fetch_one(
        "UPDATE offload.tasks SET next_attempt_at = now() + interval '1 hour'"
        " WHERE id = %(id)s RETURNING next_attempt_at",
        {"id": task.id},
    )
    assert row is not None
    assert str(task.id) in ready_ids(redis_client, "email")
    redis_client.delete(broker.redis.epoch_key)
    rebuild(reconciler)
    assert str(task.id) not in ready_ids(redis_client, "email")  # it would have run early
    due = redis_client.zscore(QueueKeys.of("email").delayed, str(task.id))
    assert due == pytest.approx(row["next_attempt_at"].timestamp() * 1000 - EPOCH_MS, abs=1)


def test_a_batch_whose_restore_failed_is_walked_again(
    db, tenant, broker, reconciler, redis_client, monkeypatch
):
    rebuild(reconciler)
    tasks = submit_many(TaskStore(db), Publisher(broker), [new_task(SPEC, tenant, PARAMS)] * 5)
    monkeypatch.setattr(reconcile, "BATCH", 2)  # 3 batches, one per pass
    monkeypatch.setattr(reconcile, "REBUILD_BATCHES", 1)
    real, failed = reconciler.publisher.restore, []
    ours = {t.id for t in tasks}

    def flaky(batch, **options):  # Redis times out on the first batch holding ours, once
        if not failed and ours & {t.id for t in batch}:
            failed.append(batch)
            raise BrokerUnavailable("Redis unavailable (TimeoutError)")
        return real(batch, **options)

    monkeypatch.setattr(reconciler.publisher, "restore", flaky)
    redis_client.flushdb()
    walk_until_rebuilt(reconciler)
    assert failed  # a batch of ours failed once, and was walked again
    assert {str(t.id) for t in tasks} <= message_ids(redis_client, "email")


def test_without_info_a_rebuild_of_many_batches_still_finishes(
    db, tenant, broker, reconciler, redis_client, monkeypatch
):
    """A managed Redis that refuses INFO: the run id is unknown, only the epoch key shows."""
    rebuild(reconciler)
    tasks = submit_many(TaskStore(db), Publisher(broker), [new_task(SPEC, tenant, PARAMS)] * 5)
    monkeypatch.setattr(reconcile, "BATCH", 2)
    monkeypatch.setattr(reconcile, "REBUILD_BATCHES", 1)
    monkeypatch.setattr(
        broker.redis, "identity", lambda: (None, (e := redis_client.get(broker.redis.epoch_key))
                                           and e.decode())
    )  # fmt: skip
    redis_client.flushdb()
    walk_until_rebuilt(reconciler)
    assert {str(t.id) for t in tasks} <= message_ids(redis_client, "email")
    assert reconciler.run_once() == 0  # and the epoch it wrote holds


def test_a_task_sent_round_again_comes_back_at_the_time_it_became_ready_again(
    db, tenant, broker, reconciler, redis_client
):
    """Resubmitted (like interrupted and reaped) tasks are ready from when that happened, not
    from their creation, which could put them ahead of their level's newer tasks."""
    rebuild(reconciler)
    store = TaskStore(db)
    old = store.create(new_task(SPEC, tenant, PARAMS))
    db.fetch_one(
        "UPDATE offload.tasks SET created_at = created_at - interval '1 hour'"
        " WHERE id = %(id)s RETURNING id",
        {"id": old.id},
    )
    attempt = store.claim(old.id)
    assert attempt is not None
    store.fail(attempt, "boom").wait()
    again = store.resubmit(tenant, old.id)
    assert again.next_attempt_at is not None
    redis_client.flushdb()
    rebuild(reconciler)
    score = redis_client.zscore(QueueKeys.of("email").ready_of(tenant), str(old.id))
    ready_ms = again.next_attempt_at.timestamp() * 1000 - EPOCH_MS
    boost = (again.priority - 1) * broker.redis.aging_ms
    assert score == pytest.approx(ready_ms - boost, abs=1)
