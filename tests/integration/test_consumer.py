"""The broker's consumer on real Redis: what reaches `admit` (the batch claim in Postgres)."""

from offload_shared.broker import disconnect, make_broker
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from tests.queues import leased_ids

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}


def test_a_second_delivery_of_a_message_the_process_holds_never_reaches_the_claim(
    db, tenant, infra, redis_client
):
    broker = make_broker(infra.redis_url)
    admitted: list[str] = []

    def admit(messages):
        admitted.extend(m.message_id for m in messages)
        return messages

    broker.admit = admit
    consumer = broker.consume("email", prefetch=4, timeout=200)
    try:
        task = TaskStore(db).create(new_task(get_spec("email.send_notification"), tenant, PARAMS))
        publisher = Publisher(broker)
        publisher.publish([task])
        first = next(consumer)  # held: its actor is running, say
        assert first is not None
        assert first.message_id == str(task.id)
        # The reconciliation puts the message back meanwhile (it is pending in Postgres until
        # the claim commits, and the copy in the lease set is not "queued").
        assert publisher.restore([task]) == 1
        assert next(consumer) is None  # fetched again, acked at once
        assert admitted == [str(task.id)]  # claimed once
        assert len(leased_ids(redis_client, "email")) <= 1
    finally:
        consumer.close()
        disconnect(broker)
