"""A fetched batch whose claim finds Postgres away while Redis goes away too: nothing runs, and
the message comes back when its lease expires (seconds), not after the republish window."""

from __future__ import annotations

import pytest

from offload_dev.procs import free_port
from offload_shared.broker import disconnect, make_broker
from offload_shared.enqueue import new_task
from offload_shared.middleware.status import TaskStatusMiddleware
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from offload_shared.worker import worker_middleware
from tests.conftest import wait_for
from tests.faults.fault_actors import QUEUE, WORK
from tests.faults.harness import ThrowawayRedis

LEASE_SECONDS = 1.0


@pytest.mark.timeout(150)
def test_a_claim_with_postgres_and_redis_away_runs_nothing_and_the_message_comes_back(
    system, db, tenant, infra, tmp_path, figure
):
    server = ThrowawayRedis(system, tmp_path / "redis")  # append-only: a clean stop keeps it
    server.start()
    task = TaskStore(db).create(new_task(WORK, tenant, {}))
    publisher = Publisher(make_broker(server.url()))
    publisher.publish([task])
    publisher.close()

    # The worker's side: its Postgres does not answer (nothing listens on that port).
    away = f"postgresql://root@127.0.0.1:{free_port()}/offload"
    settings = infra.settings(DATABASE_URL=away, REDIS_URL=server.url())
    broker = make_broker(server.url(), worker_middleware(settings), lease_seconds=LEASE_SECONDS)
    [status] = [m for m in broker.middleware if isinstance(m, TaskStatusMiddleware)]
    status.before_worker_boot(broker, None)  # as the worker does: claims go through admit
    claim = broker.admit
    assert claim is not None
    tried: list[str] = []

    def admit_while_redis_goes(messages):
        tried.extend(m.message_id for m in messages)
        server.stop()  # Redis goes away while the claim waits for Postgres
        return claim(messages)

    broker.admit = admit_while_redis_goes
    consumer = broker.consume(QUEUE, prefetch=2, timeout=500)
    try:
        # The claim retries for a minute (GroupCommit's claim window), gives up, and the release
        # of the message fails too: nothing is handed out to run.
        assert next(consumer) is None
    finally:
        consumer.close()
        disconnect(broker)
    assert tried == [str(task.id)]
    assert TaskStore(db).get(tenant, task.id).status == "pending"  # never claimed, never run

    server.start()
    again = make_broker(server.url())
    again.admit = lambda messages: messages  # any consumer of the queue
    fresh = again.consume(QUEUE, prefetch=1, timeout=200)
    try:
        back = wait_for(lambda: next(fresh), timeout=10 + LEASE_SECONDS)
    finally:
        fresh.close()
        disconnect(again)
    assert back.message_id == str(task.id)
    figure(
        "Both away: a fetched task whose claim found Postgres down while Redis went down too "
        f"was not run, and came back to the queue after its {LEASE_SECONDS:.0f} s lease"
    )
