"""A running task that ignores its cancel request is aborted after the grace period."""

from __future__ import annotations

import pytest

from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import IGNORES_CANCEL, WORK
from tests.faults.harness import FAST_ENV, enqueue_many, executions

GRACE_SECONDS = float(FAST_ENV["OFFLOAD_CANCEL_GRACE_SECONDS"])
HEARTBEAT_SECONDS = float(FAST_ENV["OFFLOAD_WORKER_HEARTBEAT_SECONDS"])


@pytest.mark.timeout(60)
def test_a_task_ignoring_its_cancel_is_aborted_after_the_grace(
    system, publisher, db, tenant, figure
):
    store = TaskStore(db)
    # One thread: the task after it can only run once the aborted task has freed that thread.
    worker = system.worker(OFFLOAD_WORKER_THREADS="1")
    [stubborn] = enqueue_many(
        system.database_url, publisher, IGNORES_CANCEL, tenant, [{"seconds": 60}]
    )
    [follower] = enqueue_many(system.database_url, publisher, WORK, tenant, [{"n": 1}])
    wait_for(lambda: store.get(tenant, stubborn.id).status == "running", timeout=20)

    requested = store.cancel(tenant, stubborn.id)
    assert (requested.status, requested.cancel_requested_at is not None) == ("running", True)
    done = wait_for(
        lambda: (t := store.get(tenant, stubborn.id)).status != "running" and t, timeout=20
    )
    assert done.status == "cancelled"
    assert done.result is None
    assert done.completed_at is not None
    assert requested.cancel_requested_at is not None
    aborted_after = (done.completed_at - requested.cancel_requested_at).total_seconds()
    assert GRACE_SECONDS <= aborted_after <= GRACE_SECONDS + 2 * HEARTBEAT_SECONDS + 1.0

    after = wait_for(
        lambda: (t := store.get(tenant, follower.id)).status == "completed" and t, timeout=20
    )
    assert worker.poll() is None  # the same worker process, its thread given back
    assert executions(system.execution_log)[stubborn.id] == 1
    events = [e.detail for e in store.events(tenant, stubborn.id)]
    assert events[-1] == "stopped after a cancel request"
    figure(
        f"Hard abort: a task ignoring its cancel was aborted {aborted_after:.1f} s after the "
        f"request (grace {GRACE_SECONDS:.0f} s, heartbeat {HEARTBEAT_SECONDS} s), ended "
        f"'{done.status}'; the next task ran on the freed thread "
        f"({(after.completed_at - done.completed_at).total_seconds():.2f} s later)"
    )
