"""Task limits and tenant fairness with real worker processes (task_limits.py, broker/layout.py):
a rate limit paces one tenant and not another, a concurrency limit holds across two worker
processes (sampled from Postgres), and one tenant's backlog does not delay another's task."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from aiosmtpd.controller import Controller

from offload_dev.procs import free_port
from offload_shared.catalog import get_spec
from offload_shared.db import Database
from offload_shared.enqueue import new_task, submit, submit_many
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import WORK
from tests.faults.harness import all_in, executions, retire, status_counts, tasks_of
from tests.smtp_servers import Mailbox

SEND = get_spec("email.send_notification")
REPORT = get_spec("reports.generate_excel")
EMAILS, PER_SECOND = 200, 20
REPORTS = 1_000


@pytest.fixture
def other_tenant(db, tenant) -> Iterator[str]:
    other = f"{tenant}-other"
    yield other
    retire(db, other)


@pytest.fixture
def smtp_port() -> Iterator[int]:
    controller = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


def starts(db: Database, tenant: str) -> list[datetime]:
    return sorted(t["started_at"] for t in tasks_of(db, tenant) if t["started_at"] is not None)


def most_in_one_second(times: list[datetime]) -> int:
    most, first = 0, 0
    for last, at in enumerate(times):
        while (at - times[first]).total_seconds() >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.timeout(120)
def test_a_rate_limit_paces_one_tenant_and_not_another(
    system, publisher, db, tenant, other_tenant, smtp_port, figure
):
    system.worker(
        "email",
        OFFLOAD_SMTP_HOST="127.0.0.1",
        OFFLOAD_SMTP_PORT=str(smtp_port),
        OFFLOAD_SMTP_SECURITY="none",
        OFFLOAD_SMTP_FROM="offload@example.com",
        OFFLOAD_TASK_LIMITS=f"email.*={PER_SECOND}/s",
    )
    store = TaskStore(db)
    params = SEND.load_params({"to": "a@example.com", "subject": "s", "body": "b"})
    began = time.monotonic()
    submit_many(store, publisher, [new_task(SEND, tenant, params) for _ in range(EMAILS)])
    wait_for(lambda: len(starts(db, tenant)) >= 2 * PER_SECOND, timeout=30)
    # Now the tenant's backlog waits on its rate: visible, pending, no retry spent.
    waiting = [t for t in tasks_of(db, tenant) if t["status"] == "pending"]
    assert waiting
    assert {t["waiting"] for t in waiting} <= {"rate_limit", None}
    wait_for(lambda: any(t["waiting"] == "rate_limit" for t in tasks_of(db, tenant)), timeout=5)
    sent = time.monotonic()
    other = submit(store, publisher, new_task(SEND, other_tenant, params))
    done = wait_for(lambda: (t := store.get(other_tenant, other.id)).status == "completed" and t)
    other_seconds = time.monotonic() - sent
    wait_for(lambda: all_in(db, tenant, "completed", EMAILS), timeout=60)
    took = time.monotonic() - began
    times = starts(db, tenant)
    span = (times[-1] - times[0]).total_seconds()
    rows = tasks_of(db, tenant)
    figure(
        f"rate limit {PER_SECOND}/s: {EMAILS} emails of one tenant took {took:.1f} s (starts "
        f"spread over {span:.2f} s, at most {most_in_one_second(times)} in any second); "
        f"another tenant's email meanwhile completed in {other_seconds * 1000:.0f} ms"
    )
    assert done.status == "completed"
    assert other_seconds < 1.0
    # 200 at 20/s with a burst of 1: the n-th starts no earlier than (n - 1) / 20 s after the first.
    assert span >= (EMAILS - 1) / PER_SECOND - 0.05
    assert took >= (EMAILS - 1) / PER_SECOND
    assert most_in_one_second(times) <= PER_SECOND + 2  # (claims land in group commits)
    assert all(r["attempts"] == 1 and r["retry_count"] == 0 for r in rows)
    assert all(r["waiting"] is None for r in rows)  # cleared as each was claimed


@pytest.mark.timeout(120)
def test_a_concurrency_limit_holds_across_worker_processes(system, publisher, db, tenant, figure):
    limits = {"OFFLOAD_TASK_LIMITS": "faults.work=concurrency:2", "OFFLOAD_WORKER_THREADS": "4"}
    system.worker(**limits)
    system.worker(**limits)
    count = 40
    tasks = submit_many(
        TaskStore(db), publisher, [new_task(WORK, tenant, {"seconds": 0.1}) for _ in range(count)]
    )
    assert len(tasks) == count
    most, samples = 0, 0
    while not all_in(db, tenant, "completed", count):
        row = db.fetch_one(
            "SELECT count(*) AS n FROM offload.tasks WHERE tenant = %(t)s AND status = 'running'",
            {"t": tenant},
        )
        most, samples = max(most, int(row["n"]) if row else 0), samples + 1
        assert most <= 2, f"{most} running at once"
        time.sleep(0.005)  # a sampling interval, not a synchronisation
    figure(
        f"concurrency limit 2 across 2 worker processes x 4 threads: {count} tasks, at most "
        f"{most} running in {samples} samples from Postgres"
    )
    assert most == 2  # the limit, not less: both slots were used


@pytest.mark.timeout(180)
def test_one_tenants_backlog_does_not_delay_anothers_task(
    system, publisher, db, tenant, other_tenant, figure
):
    """1,000 reports of one tenant, then one of another, on the real report worker."""
    system.worker("report", OFFLOAD_WORKER_THREADS="2")
    store = TaskStore(db)
    params = REPORT.load_params({"report_name": "r", "columns": ["n"], "rows": [[1], [2]]})
    submit_many(store, publisher, [new_task(REPORT, tenant, params) for _ in range(REPORTS)])
    wait_for(lambda: len(starts(db, tenant)) >= 4, timeout=30)
    sent = time.monotonic()
    single = submit(store, publisher, new_task(REPORT, other_tenant, params))
    started = wait_for(lambda: store.get(other_tenant, single.id).started_at, timeout=30)
    waited = time.monotonic() - sent
    ahead = sum(1 for t in starts(db, tenant) if t < started)
    figure(
        f"fairness: {REPORTS} reports of one tenant queued, then one of another: it started "
        f"after {waited * 1000:.0f} ms, with {REPORTS - ahead} of the backlog still waiting"
    )
    assert waited < 3.0
    assert REPORTS - ahead > REPORTS // 2  # it did not wait for the backlog


@pytest.mark.timeout(120)
def test_tasks_waiting_on_a_limit_survive_the_death_of_their_worker(
    system, publisher, db, tenant, figure
):
    """The held-back tasks wait in Redis, not in the worker: SIGKILL it while most of them wait
    on their rate, start another, and every task completes, none run twice but the ones the
    dead worker was running."""
    limits = {"OFFLOAD_TASK_LIMITS": "faults.work=10/s"}
    system.scheduler()  # its reaper sends round what the dead worker was running
    first = system.worker(**limits)
    count = 30
    tasks = submit_many(
        TaskStore(db), publisher, [new_task(WORK, tenant, {"seconds": 0.05}) for _ in range(count)]
    )
    wait_for(lambda: status_counts(db, tenant).get("completed", 0) >= 5, timeout=30)
    system.kill(first)
    held = sum(1 for t in tasks_of(db, tenant) if t["waiting"] == "rate_limit")
    system.worker(**limits)
    wait_for(lambda: all_in(db, tenant, "completed", count), timeout=60)
    ran = executions(system.execution_log, only=(t.id for t in tasks))
    twice = [task_id for task_id, n in ran.items() if n > 1]
    figure(
        f"limits across a worker death: {count} tasks at 10/s, worker SIGKILLed with {held} "
        f"waiting on the rate: all completed, {len(twice)} ran twice (were running at the kill)"
    )
    assert held > 0
    assert set(ran) == {t.id for t in tasks}
    assert len(twice) <= 1  # at 10/s and 50 ms each, at most one was running at the kill
