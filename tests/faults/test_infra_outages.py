"""R4, R4b and R6: Redis stopped while the API takes enqueues or while delayed tasks wait,
and Postgres restarted mid-run.

Each runs on a throwaway server on a port of its own; the machine's shared servers are never
stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from aiosmtpd.controller import Controller

from offload_dev.procs import free_port
from offload_shared import apikeys
from offload_shared.broker import make_broker
from offload_shared.db import Database
from offload_shared.enqueue import enqueue_in_transaction, new_task, submit
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import WORK
from tests.faults.harness import (
    ThrowawayPostgres,
    ThrowawayRedis,
    enqueue_many,
    executions,
    log_says,
    seconds_between,
    status_counts,
    tasks_of,
)
from tests.smtp_servers import Mailbox

R4_BEFORE, R4_DURING, R4_AFTER = 30, 20, 50
R4_TOTAL = R4_BEFORE + R4_DURING + R4_AFTER
R4_BOUND_SECONDS = 10.0


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def ready(url: str) -> int:
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code
    except requests.RequestException:
        return 0


def redis_check(url: str) -> str:
    return requests.get(f"{url}/readyz", timeout=5).json()["checks"]["redis"]


@pytest.mark.timeout(120)
def test_r4_redis_stopped_during_enqueues(system, db, tenant, api_key, tmp_path, mailbox, figure):
    box, smtp_port = mailbox
    server = ThrowawayRedis(system, tmp_path / "redis")
    server.start()
    system.point_at(system.database_url, server.url())
    url = system.api()
    scheduler = system.scheduler()
    system.worker("email", OFFLOAD_SMTP_HOST="127.0.0.1", OFFLOAD_SMTP_PORT=str(smtp_port))

    headers = {"Authorization": f"Bearer {api_key}"}

    def enqueue(n: int) -> requests.Response:
        body = {
            "task_name": "email.send_notification",
            "params": {"to": f"user{n}@example.com", "subject": f"n{n}", "body": "hello"},
        }
        return requests.post(f"{url}/api/tasks/enqueue", json=body, headers=headers, timeout=20)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(enqueue, range(R4_BEFORE)))
        during = [pool.submit(enqueue, n) for n in range(R4_BEFORE, R4_BEFORE + R4_DURING)]
        server.stop()  # while those requests are in flight
        answers += [f.result() for f in during]
        # The API knows Redis is gone, and stays ready: it keeps taking tasks...
        assert ready(url) == 200
        assert redis_check(url) != "ok"
        answers += list(pool.map(enqueue, range(R4_BEFORE + R4_DURING, R4_TOTAL)))
        # Redis stays away until the relay has found it gone too.
        wait_for(lambda: log_says(scheduler, "relay paused"), timeout=20)

    assert [a.status_code for a in answers] == [202] * R4_TOTAL, [a.text for a in answers]
    in_outbox = db.fetch_one(
        "SELECT count(*) AS n FROM offload.outbox o JOIN offload.tasks t ON t.id = o.task_id "
        "WHERE t.tenant = %(t)s",
        {"t": tenant},
    )
    assert in_outbox is not None
    assert in_outbox["n"] >= R4_AFTER  # ...and keeps them meanwhile

    server.start()  # same port, same data directory (its append-only file)
    back = time.time()
    wait_for(lambda: status_counts(db, tenant).get("completed") == R4_TOTAL, timeout=30)
    rows = tasks_of(db, tenant)
    recovery = max(seconds_between(back, r["completed_at"]) for r in rows)
    # Only this test's emails (the scheduler may relay what other suites left in the database).
    ours = {f"<{r['id']}@offload>" for r in rows}
    mine = [r.message["Message-ID"] for r in box.received if r.message["Message-ID"] in ours]
    assert sorted(mine) == sorted(ours)  # every task's email, once
    figure(
        f"R4: Redis stopped during {R4_TOTAL} HTTP enqueues: {R4_TOTAL} x 202, "
        f"{in_outbox['n']} accepted while it was down (kept in the outbox); after it returned "
        f"all {R4_TOTAL} completed within {recovery:.1f} s (bound {R4_BOUND_SECONDS:.0f} s), "
        f"{len(mine)} emails, 0 lost, 0 twice"
    )
    assert recovery <= R4_BOUND_SECONDS


R4B_TASKS = 300


def due_in(n: int) -> float:
    """Task n is due this many seconds after it is enqueued."""
    return 0.5 + n * 0.02


@pytest.mark.timeout(90)
def test_r4b_delayed_tasks_survive_a_redis_outage(system, db, tenant, tmp_path, figure):
    """Delayed tasks (and retries in backoff) wait in Redis, and run when due once it is back."""
    server = ThrowawayRedis(system, tmp_path / "redis")
    server.start()
    system.point_at(system.database_url, server.url())
    system.scheduler()
    worker = system.worker()
    store = TaskStore(db)
    publisher = Publisher(make_broker(system.redis_url))
    try:
        # Due one after another over about six seconds: before, during and after the outage.
        for n in range(R4B_TASKS):
            task = new_task(WORK, tenant, {"n": n}, delay_seconds=due_in(n))
            submit(store, publisher, task)
    finally:
        publisher.close()
    server.stop()
    # Down until the worker's consumer has found it gone.
    consumer_lost = '"level":"CRITICAL","logger":"dramatiq.worker.ConsumerThread(faults)"'
    wait_for(lambda: log_says(worker, consumer_lost), timeout=20)
    server.start()
    back = time.time()
    wait_for(lambda: status_counts(db, tenant).get("completed") == R4B_TASKS, timeout=30)
    # How late each ran: from when it was due, or from Redis' return if it fell due before.
    late = [
        r["completed_at"].timestamp()
        - max(back, r["created_at"].timestamp() + due_in(r["params"]["n"]))
        for r in tasks_of(db, tenant)
    ]
    recovery = max(late)
    assert worker.log_file is not None
    assert "Exception in thread" not in worker.log_file.read_text(errors="replace")
    figure(
        f"R4b: {R4B_TASKS} delayed tasks, due over 6 s, waiting in Redis while it was "
        f"stopped: all completed, at worst {recovery:.1f} s after Redis returned or they fell "
        f"due (bound {R4_BOUND_SECONDS:.0f} s); the worker's consumer survived"
    )
    assert recovery <= R4_BOUND_SECONDS


R6_BEFORE, R6_AFTER, R6_LONG = 800, 100, 4
R6_LONG_SECONDS = 24.0  # still running well after Postgres is back
# Closer to production's ratio (2 s beats, 10 s lost) than the suite's fast default, and an
# outage longer than the lost-worker window: live workers must not be taken for lost.
R6_ENV = {"OFFLOAD_WORKER_HEARTBEAT_SECONDS": "1", "OFFLOAD_WORKER_LOST_SECONDS": "4"}


@pytest.mark.timeout(150)
def test_r6_postgres_restarted_mid_run(system, infra, tenant, mailbox, figure):
    pg = ThrowawayPostgres(system)
    try:
        database_url = pg.start_migrated()
        system.point_at(database_url, infra.redis_url)
        system.env.update(R6_ENV)
        db = Database(database_url, max_size=2)
        try:
            _postgres_restart(system, pg, db, tenant, mailbox, figure)
        finally:
            db.close()
    finally:
        system.stop()
        pg.remove()


def _postgres_restart(system, pg, db, tenant, mailbox, figure) -> None:
    box, smtp_port = mailbox
    url = system.api()
    scheduler = system.scheduler()
    worker = system.worker()
    system.worker("email", OFFLOAD_SMTP_HOST="127.0.0.1", OFFLOAD_SMTP_PORT=str(smtp_port))
    publisher = Publisher(make_broker(system.redis_url))
    try:
        long = enqueue_many(
            system.database_url,
            publisher,
            WORK,
            tenant,
            [{"n": -n, "seconds": R6_LONG_SECONDS} for n in range(1, R6_LONG + 1)],
            threads=1,
        )
        enqueue_many(
            system.database_url,
            publisher,
            WORK,
            tenant,
            [{"n": n, "seconds": 0.05} for n in range(R6_BEFORE - R6_LONG)],
        )
    finally:
        publisher.close()
    long_ids = {t.id for t in long}
    wait_for(lambda: status_counts(db, tenant).get("completed", 0) >= 150, timeout=30)

    stopped = time.monotonic()
    pg.stop()  # a fast shutdown: every session is cut
    # It stays down until the worker has failed to beat twice (about 10 s, well over the
    # lost-worker window): every running task then looks lost when Postgres returns.
    wait_for(lambda: log_says(worker, "heartbeat not written", times=2), timeout=40)
    pg.start()  # the same data directory on the same port
    down = time.monotonic() - stopped
    restarted = time.time()

    wait_for(lambda: ready(url) == 200, timeout=30)
    key = apikeys.create_key(db, tenant)
    with requests.Session() as client:
        client.headers["Authorization"] = f"Bearer {key}"
        codes = [
            client.post(
                f"{url}/api/tasks/enqueue",
                json={
                    "task_name": "email.send_notification",
                    "params": {"to": "ada@example.com", "subject": f"n{n}", "body": "hello"},
                },
                timeout=20,
            ).status_code
            for n in range(R6_AFTER)
        ]
    assert codes == [202] * R6_AFTER
    # The scheduler outlived the restart and leads again: a task left to the outbox is relayed.
    with db.transaction() as conn:
        relayed = enqueue_in_transaction(conn, new_task(WORK, tenant, {"n": "relayed"}))

    total = R6_BEFORE + R6_AFTER + 1
    wait_for(
        lambda: status_counts(db, tenant).get("completed", 0) == total, timeout=60, interval=0.5
    )
    assert status_counts(db, tenant) == {"completed": total}  # none running, none failed
    assert len(box.received) == R6_AFTER
    assert scheduler.poll() is None, "the scheduler died with the Postgres restart"
    assert log_says(scheduler, "now the leader", times=2)
    rows = {r["id"]: r for r in tasks_of(db, tenant) if r["task_name"] == WORK.name}
    assert rows[relayed.id]["status"] == "completed"
    short = [r for i, r in rows.items() if i not in long_ids and i != relayed.id]
    short_done = max(seconds_between(restarted, r["completed_at"]) for r in short)
    ran = executions(system.execution_log)
    duplicates = sum(ran.values()) - len(ran)
    retried = sum(r["retry_count"] > 0 for r in rows.values())
    figure(
        f"R6: Postgres restarted mid-run (down {down:.1f} s, lost-worker window "
        f"{R6_ENV['OFFLOAD_WORKER_LOST_SECONDS']} s): 0 tasks left running, all {total} "
        f"completed (the backlog drained {short_done:.1f} s after the restart); the {R6_LONG} "
        f"long ones in flight across it ran once; {retried} retried, {duplicates} duplicate "
        f"executions; {R6_AFTER} HTTP enqueues after it all 202; the scheduler led again"
    )
    # A restart must not cost live workers' tasks a retry (nor run them twice).
    assert retried == 0
    assert all(ran[i] == 1 for i in long_ids)
