"""A junk message in a Redis queue is set aside; the messages fetched with it still run."""

import json
import uuid

import dramatiq
import pytest

from offload_shared.broker import disconnect, make_broker
from offload_shared.broker.layout import QueueKeys
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor, worker_middleware
from tests.conftest import wait_for
from tests.queues import leased_ids

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}


@pytest.fixture
def broker(infra, redis_client):
    broker = make_broker(infra.redis_url, worker_middleware(infra.settings()))
    yield broker
    disconnect(broker)


def test_junk_is_set_aside_and_its_batch_still_runs(db, tenant, broker, redis_client):
    ran = []

    @task_actor("email.send_notification", broker=broker)
    def send(ctx):
        task = ctx.task
        ran.append(task.id)
        return {}

    store, publisher = TaskStore(db), Publisher(broker)
    spec = get_spec("email.send_notification")
    before = [submit(store, publisher, new_task(spec, tenant, PARAMS)) for _ in range(3)]
    junk_id = str(uuid.uuid4())
    keys = QueueKeys.of("email")
    redis_client.hset(keys.msgs, junk_id, b"\x00not a message")
    # Junk has no tenant to be read from it: it waits in the rotation under the empty one.
    redis_client.zadd(keys.ready_of(""), {junk_id: 0})
    redis_client.zadd(keys.ready, {"": 0}, nx=True)
    after = [submit(store, publisher, new_task(spec, tenant, PARAMS)) for _ in range(3)]

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: len(ran) == 6)
        wait_for(lambda: redis_client.llen("offload:undecodable") == 1)
    finally:
        worker.stop()
    assert set(ran) == {t.id for t in before + after}
    [record] = [json.loads(r) for r in redis_client.lrange("offload:undecodable", 0, -1)]
    assert (record["queue"], record["id"]) == ("email", junk_id)
    wait_for(lambda: not redis_client.hexists(keys.msgs, junk_id))  # acked with the next fetch
    assert leased_ids(redis_client, "email") == set()
