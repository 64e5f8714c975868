"""Tenants in turn and task limits in the Redis layout (broker/layout.py, lua/fetch.lua), on a
real Redis: the claim script alone, with explicit fetches, so every order and count is exact."""

import json
import uuid

import pytest

from offload_shared.broker.layout import Limit, Outgoing, QueueKeys, RedisQueues, lease_member
from tests.conftest import wait_for
from tests.queues import ready_ids

Q = "fair"
ACTOR = "tests.limited"


@pytest.fixture
def queues(redis_client):
    queues = RedisQueues(redis_client, aging_ms=60_000, lease_ms=10_000)
    yield queues
    queues.close()


def message(tenant, priority=5, *, actor=ACTOR, task_id=None):
    task_id = task_id or str(uuid.uuid4())
    body = {"message_id": task_id, "actor_name": actor,
            "options": {"priority": priority, "tenant": tenant}}  # fmt: skip
    return Outgoing(task_id, priority, 0, json.dumps(body).encode(), tenant)


def push(queues, *messages):
    queues.push({Q: list(messages)})
    return [m.id for m in messages]


def tenant_of(payload: bytes) -> str:
    return json.loads(payload)["options"]["tenant"]


def fetch(queues, limit, *, owner="w1", limits=(), acks=()):
    return queues.fetch(Q, owner, limit, list(acks), limits=list(limits))


def test_a_tenant_with_one_task_is_served_next_whatever_another_has_queued(queues):
    push(queues, *(message("big") for _ in range(1_000)))
    [small] = push(queues, message("small"))
    first_two = [task_id for task_id, _ in fetch(queues, 2).messages]
    assert small in first_two


def test_tenants_take_turns_one_task_each(queues):
    for tenant in ("a", "b", "c"):
        push(queues, *(message(tenant) for _ in range(4)))
    order = [tenant_of(payload) for _, payload in fetch(queues, 12).messages]
    assert order == ["a", "b", "c"] * 4


def test_priority_orders_a_tenants_own_tasks(queues):
    [low, high] = push(queues, message("a", 1), message("a", 10))
    [other] = push(queues, message("b", 1))
    taken = [task_id for task_id, _ in fetch(queues, 3).messages]
    assert taken.index(high) < taken.index(low)
    assert taken[:2] in ([high, other], [other, high])  # turns first: one each


def test_a_tenant_that_joins_late_alternates_rather_than_running_its_backlog_first(queues):
    push(queues, *(message("early") for _ in range(40)))
    fetch(queues, 20)  # "early" has had 20 turns
    push(queues, *(message("late") for _ in range(10)))
    order = [tenant_of(payload) for _, payload in fetch(queues, 10).messages]
    assert order == ["early", "late"] * 5 or order == ["late", "early"] * 5


def test_sizes_and_ready_ids_count_every_tenant(queues):
    push(queues, message("a"), message("b"), message("b"))
    assert queues.sizes(Q).ready == 3
    assert len(ready_ids(queues.client, Q)) == 3
    fetch(queues, 3)
    assert queues.sizes(Q).ready == 0
    assert queues.client.exists(QueueKeys.of(Q).ready) == 0  # no tenant left in the rotation


def test_over_its_rate_a_message_is_delayed_until_its_turn_and_passes_then(queues, redis_client):
    rate = Limit(ACTOR, "k", rate_per_second=10, burst=2, concurrency=0)
    ids = push(queues, *(message("a") for _ in range(5)))
    [elsewhere] = push(queues, message("b"))  # another tenant: a bucket of its own
    before = queues.server_ms()
    fetched = fetch(queues, 10, limits=[rate])
    assert [t for t, _ in fetched.messages] == [ids[0], elsewhere, ids[1]]
    assert fetched.held == [(i, "rate_limit") for i in ids[2:]]
    delayed = QueueKeys.of(Q).delayed
    due = [redis_client.zscore(delayed, i) - before for i in ids[2:]]
    # 10/s with a burst of 2: two at once, then one each 100 ms.
    assert due == pytest.approx([100, 200, 300], abs=15)
    taken = []

    def all_taken():
        got = fetch(queues, 10, limits=[rate])
        assert got.held == []  # their tokens were taken: no second check when they come back
        taken.extend(t for t, _ in got.messages)
        return len(taken) == 3

    wait_for(all_taken, timeout=5, interval=0.01)
    assert taken == ids[2:]


def test_over_its_concurrency_a_message_is_parked_until_a_slot_frees(queues, redis_client):
    two = Limit(ACTOR, "k", rate_per_second=0, burst=1, concurrency=2)
    ids = push(queues, *(message("a") for _ in range(4)))
    [elsewhere] = push(queues, message("b"))
    fetched = fetch(queues, 10, limits=[two])
    assert [t for t, _ in fetched.messages] == [ids[0], elsewhere, ids[1]]
    assert fetched.held == [(ids[2], "concurrency_limit"), (ids[3], "concurrency_limit")]
    assert queues.sizes(Q).parked == 2
    assert fetch(queues, 10, limits=[two]).messages == []  # nothing polled back meanwhile
    # An ack frees a slot: the longest parked is ready again, and only it.
    again = fetch(queues, 10, limits=[two], acks=[lease_member(ids[0], "w1")])
    assert [t for t, _ in again.messages] == [ids[2]]
    assert queues.sizes(Q).parked == 1


def test_a_lost_consumers_slot_frees_when_its_lease_expires(redis_client):
    queues = RedisQueues(redis_client, aging_ms=60_000, lease_ms=100)
    one = Limit(ACTOR, "k", rate_per_second=0, burst=1, concurrency=1)
    [first, second] = push(queues, message("a"), message("a"))
    fetched = fetch(queues, 10, owner="lost", limits=[one])
    assert [t for t, _ in fetched.messages] == [first]
    assert fetched.held == [(second, "concurrency_limit")]

    def back():  # the lost consumer's lease expires: its message and the parked one are ready
        return fetch(queues, 10, owner="w2", limits=[one])

    again = wait_for(lambda: (got := back()).messages and got, timeout=5, interval=0.02)
    assert again.reclaimed == 1
    assert len(again.messages) == 1  # the slot went to one of them; the other is parked again
    assert [reason for _, reason in again.held] == ["concurrency_limit"]
    assert {again.messages[0][0], again.held[0][0]} == {first, second}
    queues.close()


def test_a_parked_message_can_be_retracted_and_is_not_put_back_twice(queues, redis_client):
    one = Limit(ACTOR, "k", rate_per_second=0, burst=1, concurrency=1)
    [running, parked, cancelled] = push(queues, *(message("a") for _ in range(3)))
    fetch(queues, 10, limits=[one])
    assert queues.retract(Q, [cancelled]) == 1
    assert queues.sizes(Q).parked == 1
    push(queues, message("a", task_id=parked))  # a republish leaves a parked message parked
    assert queues.sizes(Q).ready == 0
    again = fetch(queues, 10, limits=[one], acks=[lease_member(running, "w1")])
    assert [t for t, _ in again.messages] == [parked]


def test_without_limits_for_its_actor_a_message_is_never_held(queues):
    other = Limit("tests.other", "k", rate_per_second=0.001, burst=1, concurrency=1)
    push(queues, *(message("a") for _ in range(5)))
    fetched = fetch(queues, 10, limits=[other])
    assert len(fetched.messages) == 5
    assert fetched.held == []


def test_a_limit_key_is_shared_by_the_tasks_it_covers_per_tenant(queues):
    shared = [Limit(ACTOR, "email.*", 0, 1, 1), Limit("tests.other", "email.*", 0, 1, 1)]
    [a] = push(queues, message("t"))
    [b] = push(queues, message("t", actor="tests.other"))
    fetched = fetch(queues, 10, limits=shared)
    assert [t for t, _ in fetched.messages] == [a]
    assert fetched.held == [(b, "concurrency_limit")]
