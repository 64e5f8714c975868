"""Offload's Redis layout (broker/layout.py, broker/lua/) on a real Redis: order, leases, delays."""

import json
import time
import uuid

import pytest

from offload_shared.broker.layout import WAKE_CAP, Outgoing, QueueKeys, RedisQueues, lease_member

Q = "layout"
AGING_MS = 60_000


@pytest.fixture
def queues(redis_client):
    return RedisQueues(redis_client, aging_ms=AGING_MS, lease_ms=10_000)


def message(priority=5, *, delay_ms=0, task_id=None):
    task_id = task_id or str(uuid.uuid4())
    payload = json.dumps({"message_id": task_id, "options": {"priority": priority}}).encode()
    return Outgoing(task_id, priority, delay_ms, payload)


def push(queues, *messages):
    queues.push({Q: list(messages)})
    return [m.id for m in messages]


def claim_all(queues, owner="w1", limit=1_000):
    return [task_id for task_id, _ in queues.fetch(Q, owner, limit).messages]


def test_the_most_urgent_comes_first_and_fifo_within_a_level(queues):
    pushed = [message(p) for p in (1, 5, 10, 5, 1, 10, 3)]
    push(queues, *pushed)
    expected = [m.id for m in sorted(pushed, key=lambda m: -m.priority)]  # stable: FIFO
    assert claim_all(queues) == expected


def test_a_less_urgent_task_is_passed_only_within_the_aging_window(redis_client):
    queues = RedisQueues(redis_client, aging_ms=100, lease_ms=10_000)
    [old] = push(queues, message(1))
    time.sleep(0.05)  # the scenario: an urgent task arrives 50 ms later, within 9 x 100 ms
    [urgent_soon] = push(queues, message(10))
    ready = QueueKeys.of(Q).ready_of("")
    scores = dict(redis_client.zrange(ready, 0, -1, withscores=True))
    # Scores are ready time minus (priority - 1) x aging step: 9 steps separate 1 and 10.
    assert scores[old.encode()] - scores[urgent_soon.encode()] == pytest.approx(900 - 50, abs=20)
    assert claim_all(queues) == [urgent_soon, old]


def test_publishing_a_queued_task_again_keeps_one_message_in_its_place(queues, redis_client):
    first, second = message(5), message(5)
    push(queues, first, second)
    push(queues, message(5, task_id=first.id))  # a duplicate publish (relay, republish)
    assert redis_client.zcard(QueueKeys.of(Q).ready_of("")) == 2
    assert claim_all(queues) == [first.id, second.id]


def test_a_claim_leases_the_message_and_an_ack_removes_it(queues, redis_client):
    [task_id] = push(queues, message())
    assert claim_all(queues, "w1") == [task_id]
    keys = QueueKeys.of(Q)
    assert redis_client.zscore(keys.leases, lease_member(task_id, "w1")) is not None
    assert claim_all(queues, "w2") == []  # leased: nobody else gets it
    queues.fetch(Q, "w1", 0, acks=[lease_member(task_id, "w1")])
    assert redis_client.zcard(keys.leases) == 0
    assert not redis_client.hexists(keys.msgs, task_id)


def test_an_ack_keeps_the_message_of_a_task_published_again_meanwhile(queues, redis_client):
    """A retry is published (delayed) while its attempt's message is still leased."""
    [task_id] = push(queues, message())
    claim_all(queues, "w1")
    push(queues, message(task_id=task_id, delay_ms=60_000))
    queues.fetch(Q, "w1", 0, acks=[lease_member(task_id, "w1")])
    keys = QueueKeys.of(Q)
    assert redis_client.hexists(keys.msgs, task_id)
    assert redis_client.zscore(keys.delayed, task_id) is not None


def test_an_expired_lease_goes_back_to_the_ready_set(redis_client):
    queues = RedisQueues(redis_client, aging_ms=AGING_MS, lease_ms=50)
    [task_id] = push(queues, message())
    assert claim_all(queues, "dead-worker") == [task_id]
    deadline = time.monotonic() + 5
    while True:
        fetched = queues.fetch(Q, "live-worker", 10)
        if fetched.messages or time.monotonic() > deadline:
            break
    assert [m for m, _ in fetched.messages] == [task_id]
    assert fetched.reclaimed == 1


def test_renewed_leases_do_not_expire(redis_client):
    queues = RedisQueues(redis_client, aging_ms=AGING_MS, lease_ms=300)
    [task_id] = push(queues, message())
    claim_all(queues, "w1")
    for _ in range(4):  # renewed for well over the lease
        queues.renew(Q, [lease_member(task_id, "w1")])
        time.sleep(0.1)
    assert claim_all(queues, "w2") == []


def test_a_delayed_message_waits_in_redis_and_is_promoted_when_due(queues, redis_client):
    [later] = push(queues, message(delay_ms=300))
    fetched = queues.fetch(Q, "w1", 10)
    assert fetched.messages == []
    assert 0 < fetched.next_due_ms <= 300
    assert redis_client.zscore(QueueKeys.of(Q).delayed, later) is not None
    deadline = time.monotonic() + 5
    while not (fetched := queues.fetch(Q, "w1", 10)).messages:
        assert time.monotonic() < deadline
    assert [m for m, _ in fetched.messages] == [later]
    assert fetched.next_due_ms is None


def test_a_retracted_message_is_never_delivered(queues, redis_client):
    [cancelled, delayed] = push(queues, message(), message(delay_ms=60_000))
    assert queues.retract(Q, [cancelled, delayed]) == 2
    keys = QueueKeys.of(Q)
    assert redis_client.zcard(keys.ready_of("")) == redis_client.zcard(keys.delayed) == 0
    assert redis_client.hlen(keys.msgs) == 0


@pytest.mark.parametrize(
    ("mode", "ready", "delayed", "dead"),
    [("requeue", 1, 0, 0), ("release", 0, 1, 0), ("dead", 0, 0, 1), ("ack", 0, 0, 0)],
)
def test_settling_a_lease(queues, redis_client, mode, ready, delayed, dead):
    sent = message()
    [task_id] = push(queues, sent)
    claim_all(queues, "w1")
    payloads = [sent.payload] if mode in ("requeue", "release") else []
    member = lease_member(task_id, "w1")
    assert queues.settle(Q, mode, [member], delay_ms=60_000, payloads=payloads) == 1
    keys = QueueKeys.of(Q)
    assert redis_client.zcard(keys.leases) == 0
    assert (redis_client.zcard(keys.ready_of("")), redis_client.zcard(keys.delayed)) == (
        ready,
        delayed,
    )
    assert redis_client.llen(keys.dead) == dead
    assert redis_client.hexists(keys.msgs, task_id) == bool(ready or delayed)


def test_a_second_delivery_survives_the_first_ones_late_ack(queues, redis_client):
    # A lease that lapsed (a stalled process) comes back and is delivered again; the first
    # delivery's late ack must not take the second one's lease or payload with it.
    sent = message()
    [task_id] = push(queues, sent)
    claim_all(queues, "w1.1")
    keys = QueueKeys.of(Q)
    redis_client.zadd(keys.leases, {lease_member(task_id, "w1.1"): 0})  # lapsed
    assert claim_all(queues, "w1.2") == [task_id]  # reclaimed and delivered again
    queues.fetch(Q, "w1.3", 0, acks=[lease_member(task_id, "w1.1")])  # the late ack
    assert redis_client.zscore(keys.leases, lease_member(task_id, "w1.2")) is not None
    # Its payload went with the ack (no queued copy was left), but a requeue restores it.
    member = lease_member(task_id, "w1.2")
    assert queues.settle(Q, "requeue", [member], payloads=[sent.payload]) == 1
    assert claim_all(queues, "w1.4") == [task_id]


def test_wake_up_tokens_are_capped(queues, redis_client):
    push(queues, *[message() for _ in range(WAKE_CAP * 3)])
    assert redis_client.llen(QueueKeys.of(Q).wake) == WAKE_CAP


def test_an_idle_wait_returns_as_soon_as_a_task_is_published(queues, redis_client):
    redis_client.delete(QueueKeys.of(Q).wake)
    started = time.monotonic()
    assert queues.wait(Q, "w1", 0.2) is False  # nothing published: the timeout
    assert time.monotonic() - started >= 0.15
    push(queues, message())
    started = time.monotonic()
    assert queues.wait(Q, "w1", 5) is True
    assert time.monotonic() - started < 1


def test_one_batch_keeps_its_order_within_a_level(queues):
    pushed = [message(5) for _ in range(500)]
    push(queues, *pushed)
    assert claim_all(queues) == [m.id for m in pushed]


def test_the_scripts_and_python_count_time_from_the_same_epoch(queues, redis_client):
    [task_id] = push(queues, message())
    claim_all(queues, "w1")
    lease = redis_client.zscore(QueueKeys.of(Q).leases, lease_member(task_id, "w1"))
    assert lease == pytest.approx(queues.server_ms() + queues.lease_ms, abs=1_000)
