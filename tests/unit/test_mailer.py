import uuid

from offload_email_worker.mailer import build_notification, message_id_for


def test_notification_headers_and_body():
    task_id = uuid.uuid4()
    msg = build_notification(
        {"to": ["a@example.com"], "subject": "Hello", "body": "Hi there"},
        sender="noreply@example.com",
        message_id=message_id_for(task_id),
    )
    assert msg["To"] == "a@example.com"
    assert msg["From"] == "noreply@example.com"
    assert msg["Subject"] == "Hello"
    assert msg["Message-ID"] == f"<{task_id}@offload>"
    assert msg.get_content().strip() == "Hi there"


def test_message_id_is_stable_for_a_task():
    task_id = uuid.uuid4()
    assert message_id_for(task_id) == message_id_for(task_id)
