"""R7: poison — a task that always raises, one that kills its worker, junk bytes in the queue —
while a thousand ordinary tasks run beside them on the same queue and worker."""

from __future__ import annotations

import base64
import json
import time

import pytest

from offload_shared.broker.layout import QueueKeys
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import FAILS, KILLS_WORKER, QUEUE, WORK
from tests.faults.harness import NAMESPACE, enqueue_many, executions, status_counts, tasks_of

BYSTANDERS = 1_000
JUNK = {
    "faults-junk-bytes": b"\xff\xfe not json at all \x00",
    "faults-junk-json": json.dumps({"not": "a dramatiq message"}).encode(),
}


@pytest.mark.timeout(150)
def test_r7_poison_is_contained_and_bystanders_complete(
    system, publisher, db, redis_client, tenant, figure
):
    system.scheduler()
    half = [{"n": n, "seconds": 0.005} for n in range(BYSTANDERS // 2)]
    rest = [{"n": n, "seconds": 0.005} for n in range(BYSTANDERS // 2, BYSTANDERS)]
    enqueue_many(system.database_url, publisher, WORK, tenant, half)
    # Junk pushed the way Offload lays out a message: data in `msgs`, id in the ready set.
    keys = QueueKeys.of(QUEUE)
    for redis_id, data in JUNK.items():
        redis_client.hset(keys.msgs, redis_id, data)
        redis_client.zadd(keys.ready_of(""), {redis_id: 0})  # no tenant to be read from it
        redis_client.zadd(keys.ready, {"": 0}, nx=True)
    [fails] = enqueue_many(system.database_url, publisher, FAILS, tenant, [{}])

    started = time.monotonic()
    worker = system.worker()
    # The raising task runs out its retries before the killer comes: an attempt cut short by a
    # worker death would end it with "worker lost" rather than its own error.
    wait_for(lambda: TaskStore(db).get(tenant, fails.id).status == "failed", timeout=30)
    [killer] = enqueue_many(system.database_url, publisher, KILLS_WORKER, tenant, [{}])
    enqueue_many(system.database_url, publisher, WORK, tenant, rest)
    deaths = 0

    def settled() -> bool:
        nonlocal worker, deaths
        if worker.poll() is not None:  # the worker died: restart it, as Kubernetes would
            deaths += 1
            worker = system.worker(ready=False)
        counts = status_counts(db, tenant)
        return counts.get("completed") == BYSTANDERS and counts.get("failed") == 2

    wait_for(settled, timeout=120, interval=0.2)
    elapsed = time.monotonic() - started

    rows = {r["id"]: r for r in tasks_of(db, tenant)}
    failed = rows[fails.id]
    assert (failed["status"], failed["attempts"], failed["retry_count"]) == ("failed", 3, 2)
    assert failed["error_message"] == "RuntimeError: boom on attempt 3"

    poison = rows[killer.id]
    assert poison["status"] == "failed"
    assert poison["attempts"] == KILLS_WORKER.default_max_retries + 1
    assert "no retries left" in poison["error_message"]
    assert deaths == KILLS_WORKER.default_max_retries + 1
    assert executions(system.execution_log)[killer.id] == deaths

    set_aside = [json.loads(r) for r in redis_client.lrange(f"{NAMESPACE}:undecodable", 0, -1)]
    by_id = {r["id"]: base64.b64decode(r["data_base64"]) for r in set_aside}
    assert by_id == JUNK
    assert not redis_client.hexists(keys.msgs, "faults-junk-bytes")

    bystanders = [r for r in rows.values() if r["task_name"] == WORK.name]
    assert sum(r["status"] == "completed" for r in bystanders) == BYSTANDERS
    hit = sum(r["attempts"] > 1 for r in bystanders)
    figure(
        f"R7: always-raising task failed after {failed['attempts']} attempts with its error; "
        f"worker-killing task failed as poison after {deaths} worker deaths "
        f"(max_retries {KILLS_WORKER.default_max_retries}); {len(set_aside)} junk messages set "
        f"aside in {NAMESPACE}:undecodable; {BYSTANDERS} bystanders all completed "
        f"({hit} caught by a worker death and rerun) in {elapsed:.1f} s"
    )
