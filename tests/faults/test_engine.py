"""The engine on real processes: strict priority with aging, a blocking fetch, durable delays."""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from offload_shared.broker import make_broker
from offload_shared.broker.layout import QueueKeys
from offload_shared.db import Database
from offload_shared.enqueue import new_task, submit, submit_many
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import QUEUE, WORK
from tests.faults.harness import (
    ThrowawayRedis,
    all_in,
    executions,
    status_counts,
    task_ids_in_hand,
    tasks_of,
    worker_pids,
)


def started_order(log: Path) -> list[uuid.UUID]:
    """Task ids in the order their actors started (the workers' execution log)."""
    return [uuid.UUID(line.split()[0]) for line in log.read_text().splitlines() if line]


def started(store: TaskStore, tenant: str, task_id: uuid.UUID):
    task = store.get(tenant, task_id)
    return task if task.started_at is not None else None


def by_priority_then_fifo(tasks) -> list[uuid.UUID]:
    return [t.id for t in sorted(tasks, key=lambda t: -t.priority)]  # sorted() is stable


@pytest.mark.timeout(120)
def test_a_single_thread_takes_300_tasks_by_priority_fifo_within_a_level(
    system, publisher, db, tenant, figure
):
    rng = random.Random(300)
    store = TaskStore(db)
    tasks = []
    for _ in range(30):  # in several publishes, as they would arrive
        batch = [new_task(WORK, tenant, {}, priority=rng.randint(1, 10)) for _ in range(10)]
        tasks += submit_many(store, publisher, batch)
    # No lookahead: each claim is its own commit, so started_at orders them in Postgres.
    system.worker(OFFLOAD_WORKER_THREADS="1", OFFLOAD_WORKER_LOOKAHEAD="0")
    wait_for(lambda: all_in(db, tenant, "completed", 300), timeout=60)

    rows = sorted(tasks_of(db, tenant), key=lambda r: r["started_at"])
    assert [r["id"] for r in rows] == by_priority_then_fifo(tasks)
    assert started_order(system.execution_log) == by_priority_then_fifo(tasks)
    figure(
        "Priority: 300 tasks of mixed priority started strictly by priority, FIFO within a "
        "level, on one thread (by started_at in Postgres and by the execution log)"
    )


@pytest.mark.timeout(120)
def test_a_worker_with_lookahead_still_starts_tasks_by_priority(system, publisher, db, tenant):
    rng = random.Random(3)
    store = TaskStore(db)
    tasks = submit_many(
        store,
        publisher,
        [new_task(WORK, tenant, {}, priority=rng.randint(1, 10)) for _ in range(100)],
    )
    system.worker(OFFLOAD_WORKER_THREADS="1", OFFLOAD_WORKER_LOOKAHEAD="4")
    wait_for(lambda: all_in(db, tenant, "completed", 100), timeout=60)
    assert started_order(system.execution_log) == by_priority_then_fifo(tasks)


AGING_SECONDS = 0.2  # one step: priority 10 passes priority 1 for at most 9 x 0.2 = 1.8 s
STREAM_SECONDS = 4.0


@pytest.mark.timeout(120)
def test_aging_bounds_how_long_urgent_work_can_pass_a_low_priority_task(system, db, tenant, figure):
    system.env["OFFLOAD_PRIORITY_AGING_SECONDS"] = str(AGING_SECONDS)
    publisher = Publisher(make_broker(system.redis_url, aging_seconds=AGING_SECONDS))
    store = TaskStore(db)
    try:
        low = submit(store, publisher, new_task(WORK, tenant, {"seconds": 0.02}, priority=1))
        # One thread, 20 ms per task: about 50 tasks/s, while urgent ones arrive at 100/s from
        # before it boots, so the queue never runs dry of priority-10 work: strict priority
        # alone would starve `low`.
        system.worker(ready=False, OFFLOAD_WORKER_THREADS="1", OFFLOAD_WORKER_LOOKAHEAD="0")
        urgent = []
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < STREAM_SECONDS:
            due = len(urgent) / 100
            if due > elapsed:
                time.sleep(due - elapsed)  # the stream's open-loop schedule, not a sync
            task = new_task(WORK, tenant, {"seconds": 0.02}, priority=10)
            urgent.append(submit(store, publisher, task))
    finally:
        publisher.close()
    wait_for(lambda: TaskStore(db).get(tenant, low.id).started_at is not None, timeout=30)

    rows = {r["id"]: r for r in tasks_of(db, tenant)}
    low_start, low_created = rows[low.id]["started_at"], rows[low.id]["created_at"]
    cutoff = low_created + timedelta(seconds=9 * AGING_SECONDS)
    slack = timedelta(milliseconds=50)  # Postgres' and Redis' clocks, on the same host
    started = {u.id: rows[u.id]["started_at"] for u in urgent}
    passed = [u for u in urgent if started[u.id] and started[u.id] < low_start]
    # Only urgent tasks that arrived within the window after `low` ran before it...
    assert passed
    assert all(rows[u.id]["created_at"] < cutoff + slack for u in passed)
    # ...and urgent ones that arrived later waited for it, although they were more urgent.
    later = [u for u in urgent if rows[u.id]["created_at"] > cutoff + slack]
    assert later
    assert all(started[u.id] is None or started[u.id] > low_start for u in later)
    waited = (low_start - low_created).total_seconds()
    figure(
        f"Aging: a priority-1 task under a stream of priority-10 ones (aging step "
        f"{AGING_SECONDS} s) was passed by the {len(passed)} that arrived within "
        f"{9 * AGING_SECONDS:.1f} s after it and by none later; it started after {waited:.1f} s"
    )


@pytest.mark.timeout(90)
def test_a_lone_task_starts_within_milliseconds_on_an_idle_worker(
    system, publisher, db, tenant, figure
):
    system.worker()
    store = TaskStore(db)
    waits = []
    for _ in range(5):
        time.sleep(1.2)  # the scenario: an idle worker, blocked on its queue for a while
        task = submit(store, publisher, new_task(WORK, tenant, {}))
        done = wait_for(lambda t=task: started(store, tenant, t.id))
        waits.append((done.started_at - done.created_at).total_seconds())
    figure(
        f"Blocking fetch: a lone task on an idle worker started {max(waits) * 1000:.1f} ms after "
        f"it was created at worst (of 5; median {sorted(waits)[2] * 1000:.1f} ms)"
    )
    assert max(waits) < 0.05


DELAYED = 200


@pytest.mark.timeout(120)
def test_delayed_tasks_wait_in_redis_across_a_worker_kill_and_run_on_time(
    system, publisher, db, redis_client, tenant, figure
):
    worker = system.worker()
    store = TaskStore(db)
    tasks = submit_many(
        store, publisher, [new_task(WORK, tenant, {}, delay_seconds=4) for _ in range(DELAYED)]
    )
    keys = QueueKeys.of(QUEUE)
    assert redis_client.zcard(keys.delayed) >= DELAYED  # in Redis, not in the worker
    system.kill(worker)  # SIGKILL: whatever it held in memory is gone
    system.worker()
    wait_for(lambda: all_in(db, tenant, "completed", DELAYED), timeout=30)
    rows = tasks_of(db, tenant)
    early = [r for r in rows if r["started_at"] < r["created_at"] + timedelta(seconds=4)]
    assert not early
    late = max((r["started_at"] - r["created_at"]).total_seconds() - 4 for r in rows)
    ran = executions(system.execution_log, only=(t.id for t in tasks))
    assert len(ran) == DELAYED
    assert sum(ran.values()) == DELAYED
    figure(
        f"Delays: {DELAYED} tasks delayed 4 s, their worker SIGKILLed while they waited: all ran "
        f"once, none early, the last {late * 1000:.0f} ms after its due time"
    )


@pytest.mark.timeout(120)
def test_delayed_tasks_survive_a_redis_restart(system, db, tenant, tmp_path):
    server = ThrowawayRedis(system, tmp_path / "redis")
    server.start()
    system.point_at(system.database_url, server.url())
    system.worker()
    publisher = Publisher(make_broker(system.redis_url))
    try:
        submit_many(
            TaskStore(db),
            publisher,
            [new_task(WORK, tenant, {}, delay_seconds=3) for _ in range(DELAYED)],
        )
    finally:
        publisher.close()
    server.stop()  # a clean restart keeps its append-only file
    server.start()
    wait_for(lambda: all_in(db, tenant, "completed", DELAYED), timeout=40)
    rows = tasks_of(db, tenant)
    assert all(r["started_at"] >= r["created_at"] + timedelta(seconds=3) for r in rows)


@pytest.mark.timeout(60)
def test_a_delayed_task_becomes_ready_on_time(system, publisher, db, tenant, figure):
    system.worker()
    store = TaskStore(db)
    lates = []
    for delay in (0.5, 1.3, 2.2):  # due between the idle consumer's one-second wake-ups
        task = submit(store, publisher, new_task(WORK, tenant, {}, delay_seconds=delay))
        done = wait_for(lambda t=task: started(store, tenant, t.id), timeout=10)
        lates.append((done.started_at - done.created_at).total_seconds() - delay)
    figure(f"Delays: a delayed task on an idle worker started {max(lates) * 1000:.1f} ms after "
           f"its due time at worst (of 3)")  # fmt: skip
    assert all(-0.005 < late < 0.05 for late in lates)


MANY = 100_000


def evalsha_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(240)
def test_a_hundred_thousand_delayed_tasks_stay_out_of_the_worker(
    system, publisher, db, redis_client, tenant, figure
):
    worker = system.worker()
    [pid] = worker_pids(worker)
    before = rss_kib(pid)
    database = Database(system.database_url, max_size=1)
    store = TaskStore(database)
    try:
        for _ in range(MANY // 1_000):
            news = [new_task(WORK, tenant, {}, delay_seconds=3600) for _ in range(1_000)]
            submit_many(store, publisher, news)
    finally:
        database.close()
    assert redis_client.zcard(QueueKeys.of(QUEUE).delayed) >= MANY
    # An idle consumer fetches once a second: after a few fetches it would hold what it took.
    fetches = evalsha_calls(redis_client)
    wait_for(lambda: evalsha_calls(redis_client) >= fetches + 3, timeout=20)
    after = rss_kib(pid)
    figure(f"Delays: {MANY:,} tasks delayed by an hour wait in Redis; the worker's RSS went "
           f"from {before / 1024:.0f} to {after / 1024:.0f} MiB")  # fmt: skip
    assert after - before < 10 * 1024
    assert status_counts(db, tenant) == {"pending": MANY}


@pytest.mark.timeout(120)
def test_a_claim_that_waited_behind_a_slow_task_is_checked_before_it_runs(
    system, publisher, db, tenant, redis_client
):
    # One thread, one task of lookahead: the worker claims `reaped` and `cancelled` while
    # `slow` holds its thread. Meanwhile the reaper gives up on the first (as it does when a
    # claim outlives the task's time limit) and a cancel is requested for the second.
    store = TaskStore(db)
    slow = submit(store, publisher, new_task(WORK, tenant, {"seconds": 4}, priority=10))
    reaped = submit(store, publisher, new_task(WORK, tenant, {}, priority=5))
    cancelled = submit(store, publisher, new_task(WORK, tenant, {}, priority=1))
    system.worker(OFFLOAD_WORKER_THREADS="1", OFFLOAD_WORKER_LOOKAHEAD="2")
    wait_for(lambda: all_in(db, tenant, "running", 3), timeout=30)
    db.fetch_one(
        "UPDATE offload.tasks SET status = 'pending', worker_id = NULL WHERE id = %(id)s"
        " RETURNING id",
        {"id": reaped.id},
    )
    store.cancel(tenant, cancelled.id)

    wait_for(lambda: store.get(tenant, cancelled.id).status == "cancelled", timeout=30)
    # Every message settled (the scheduler of this suite is not running: nothing else acts).
    wait_for(lambda: not task_ids_in_hand(redis_client) & {reaped.id, cancelled.id}, timeout=10)
    assert store.get(tenant, slow.id).status == "completed"
    assert store.get(tenant, reaped.id).status == "pending"  # left to the reaper's new attempt
    ran = executions(system.execution_log, [slow.id, reaped.id, cancelled.id])
    assert ran == {slow.id: 1}  # neither waiting claim ran
