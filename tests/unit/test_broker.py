from offload_shared.broker import task_message
from tests.conftest import make_task


def test_message_id_is_the_task_id_and_params_stay_out_of_the_message():
    task = make_task()
    message = task_message(task)
    assert message.message_id == str(task.id)
    assert (message.queue_name, message.actor_name) == ("email", "email.send_notification")
    assert b"person@example.com" not in message.encode()
