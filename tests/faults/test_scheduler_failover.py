"""Two scheduler replicas: only the leader relays; killing it lets the other take over."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from offload_scheduler.leader import LOCK_KEY
from offload_shared.enqueue import enqueue_in_transaction, new_task
from tests.conftest import wait_for
from tests.faults.fault_actors import QUEUE, WORK
from tests.faults.harness import log_says
from tests.queues import message_ids

BATCH = 50


def leader_locks(db) -> int:
    row = db.fetch_one(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = 0 AND objid = %(key)s "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        {"key": LOCK_KEY},
    )
    return int(row["n"]) if row else 0


def record_without_publishing(db, tenant: str) -> set[uuid.UUID]:
    """Tasks committed with their outbox rows only, as enqueue_in_transaction leaves them."""
    with db.transaction() as conn:
        return {
            enqueue_in_transaction(conn, new_task(WORK, tenant, {"n": n})).id for n in range(BATCH)
        }


def relayed_count(*schedulers) -> int:
    """How many messages the schedulers' relays published, by their logs."""
    total = 0
    for scheduler in schedulers:
        text = scheduler.log_file.read_text(errors="replace") if scheduler.log_file else ""
        total += sum(int(n) for n in re.findall(r"relay published (\d+) task", text))
    return total


def outbox_left(db, ids: set[uuid.UUID]) -> int:
    row = db.fetch_one(
        "SELECT count(*) AS n FROM offload.outbox WHERE task_id = ANY(%(ids)s)", {"ids": list(ids)}
    )
    return int(row["n"]) if row else 0


@pytest.mark.timeout(60)
def test_two_scheduler_replicas_one_leader_and_failover(system, db, redis_client, tenant, figure):
    replicas = [system.scheduler(), system.scheduler()]
    wait_for(lambda: any(log_says(s, "now the leader") for s in replicas), timeout=20)
    [leader] = [s for s in replicas if log_says(s, "now the leader")]
    [follower] = [s for s in replicas if s is not leader]

    def relayed(ids: set[uuid.UUID]) -> bool:
        assert leader_locks(db) <= 1, "two schedulers hold the leader lock"
        return outbox_left(db, ids) == 0

    first = record_without_publishing(db, tenant)
    wait_for(lambda: relayed(first), timeout=20, interval=0.1)
    assert log_says(leader, "relay published")
    assert not log_says(follower, "relay published")
    assert not log_says(follower, "now the leader")
    assert leader_locks(db) == 1

    second = record_without_publishing(db, tenant)
    system.kill(leader)
    killed = time.monotonic()
    wait_for(lambda: relayed(second), timeout=30, interval=0.1)
    takeover = time.monotonic() - killed
    assert log_says(follower, "now the leader")
    assert log_says(follower, "relay published")
    assert leader_locks(db) == 1

    ours = {str(i) for i in first | second}
    assert ours <= message_ids(redis_client, QUEUE)
    sent = relayed_count(leader, follower)
    assert sent == len(ours), "every outbox row published exactly once"
    figure(
        f"Scheduler x2: one leader lock holder throughout, {BATCH} outbox rows relayed by the "
        f"leader only; leader SIGKILLed -> the other replica took over and relayed the next "
        f"{BATCH} in {takeover:.1f} s; {sent} messages, 0 duplicates"
    )
