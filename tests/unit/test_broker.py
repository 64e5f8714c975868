import uuid
from datetime import UTC, datetime

from offload_shared.broker import task_message
from offload_shared.models import Task


def make_task(**overrides):
    values = dict(
        id=uuid.uuid4(),
        tenant="t",
        task_name="email.send_notification",
        task_type="email",
        queue="email",
        priority=3,
        status="pending",
        params={"to": "person@example.com", "subject": "s", "body": "b"},
        result=None,
        error_message=None,
        progress=0,
        attempts=0,
        retry_count=0,
        max_retries=3,
        time_limit_ms=1000,
        created_at=datetime.now(UTC),
        next_attempt_at=None,
        started_at=None,
        completed_at=None,
    )
    return Task(**(values | overrides))


def test_message_id_is_the_task_id_and_params_stay_out_of_the_message():
    task = make_task()
    message = task_message(task)
    assert message.message_id == str(task.id)
    assert (message.queue_name, message.actor_name) == ("email", "email.send_notification")
    assert b"person@example.com" not in message.encode()
