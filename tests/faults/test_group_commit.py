"""Group commit under sixteen threads while Postgres restarts: nothing lost, nothing stuck."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from offload_shared.db import Database
from offload_shared.enqueue import new_task
from offload_shared.group_commit import GroupCommit
from offload_shared.store import TaskStore
from tests.faults.fault_actors import WORK
from tests.faults.harness import ThrowawayPostgres

THREADS, PER_THREAD = 16, 100


@pytest.mark.timeout(180)
def test_group_commit_across_a_postgres_restart(system, tenant, figure):
    pg = ThrowawayPostgres(system)
    try:
        _restart_under_load(pg, pg.start_migrated(), tenant, figure)
    finally:
        pg.remove()


def _restart_under_load(pg: ThrowawayPostgres, url: str, tenant: str, figure) -> None:
    db = Database(url, max_size=2)
    writer = GroupCommit(Database(url, max_size=1, generic_plans=True))
    store, worker_store = TaskStore(db), TaskStore(db, writer)
    tasks = store.create_many([new_task(WORK, tenant, {}) for _ in range(THREADS * PER_THREAD)])
    worker_id = uuid.uuid4()
    done = threading.Semaphore(0)
    finished = []

    def work(mine: list) -> list[str]:
        outcomes = []
        for task in mine:
            claimed = worker_store.claim(task.id, worker_id)
            if claimed is None:
                outcomes.append("not claimed")
                continue
            outcomes.append("ok" if worker_store.complete(claimed, {"n": 1}).wait() else "lost")
            done.release()
        return outcomes

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(work, tasks[i::THREADS]) for i in range(THREADS)]
        for _ in range(len(tasks) // 3):  # a third of the way through...
            assert done.acquire(timeout=60)
        stopped = time.monotonic()
        pg.stop()  # ...Postgres goes away (a fast shutdown) and comes back on the same port
        pg.start()
        down = time.monotonic() - stopped
        for future in futures:
            finished += future.result(timeout=90)  # every thread finishes: none is stuck

    counts = db.fetch_all(
        "SELECT status, count(*) AS n FROM offload.tasks WHERE tenant = %(t)s GROUP BY status",
        {"t": tenant},
    )
    histories = db.fetch_all(
        "SELECT string_agg(e.status, ',' ORDER BY e.id) AS h, count(*) OVER () AS tasks"
        " FROM offload.task_events e JOIN offload.tasks t ON t.id = e.task_id"
        " WHERE t.tenant = %(t)s GROUP BY e.task_id",
        {"t": tenant},
    )
    batches, writes = writer.batches, writer.writes
    writer.db.close()
    db.close()
    assert finished == ["ok"] * len(tasks)
    assert {r["status"]: r["n"] for r in counts} == {"completed": len(tasks)}
    assert {r["h"] for r in histories} == {"pending,running,completed"}  # one each, no repeat
    assert writes / batches > 1.5  # the threads' writes were committed together
    figure(
        f"Group commit: {THREADS} threads x {PER_THREAD} tasks, Postgres restarted a third of "
        f"the way (down {down:.1f} s): all {len(tasks)} completed once, none stuck; "
        f"{writes} writes in {batches} transactions ({writes / batches:.1f} per commit)"
    )
