"""R1: ten thousand tasks through real workers and a real scheduler; none is lost."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.faults.fault_actors import WORK
from tests.faults.harness import enqueue_many, executions, status_counts, tasks_of

TASKS = 10_000


@pytest.mark.timeout(150)
def test_r1_ten_thousand_tasks_none_lost(system, publisher, db, tenant, figure):
    system.scheduler()
    system.worker(OFFLOAD_WORKER_PROCESSES="2", OFFLOAD_WORKER_THREADS="4")
    started = time.monotonic()
    enqueue_many(system.database_url, publisher, WORK, tenant, ({"n": n} for n in range(TASKS)))
    enqueued = time.monotonic() - started

    wait_for(lambda: status_counts(db, tenant).get("completed") == TASKS, timeout=120, interval=0.5)
    elapsed = time.monotonic() - started

    counts = status_counts(db, tenant)
    ran = executions(system.execution_log, only=(r["id"] for r in tasks_of(db, tenant)))
    assert counts == {"completed": TASKS}
    assert len(ran) == TASKS
    duplicates = sum(ran.values()) - len(ran)
    figure(
        f"R1: {TASKS} tasks, {counts['completed']} completed, {TASKS - counts['completed']} lost, "
        f"{duplicates} duplicate executions; enqueued in {enqueued:.1f} s, all done in "
        f"{elapsed:.1f} s ({TASKS / elapsed:.0f} tasks/s)"
    )
