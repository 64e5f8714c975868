"""The email tasks end to end: the jobs with Postgres, and the real actors on a Dramatiq worker.

The actors get their SMTP settings from their task's context, that is from the worker's
settings: `email_broker` builds a broker whose middleware points at the test's SMTP server.
"""

from __future__ import annotations

import pytest
from dramatiq import Broker

from offload_email_worker import actors, deliveries, jobs
from offload_shared.broker import disconnect, make_broker
from offload_shared.errors import PermanentTaskError
from offload_shared.settings import SmtpSettings
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor, worker_middleware
from tests.conftest import create_task, submit_task, wait_for
from tests.smtp_servers import Mailbox, serve

FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture
def smtp_server():
    started = []
    yield lambda handler: serve(handler, started)
    for controller in started:
        controller.stop()


@pytest.fixture
def email_broker(infra, redis_client, smtp_server):
    """A broker with the email worker's real actors and middleware, configured (and so every
    task's ctx.settings) for an SMTP server of the test's own: call it with the handler."""
    made = []

    def start(handler: Mailbox) -> tuple[Broker, SmtpSettings]:
        smtp = smtp_server(handler)
        settings = infra.settings(
            OFFLOAD_RETRY_BACKOFF_SECONDS="0.05",
            OFFLOAD_SMTP_HOST=smtp.host,
            OFFLOAD_SMTP_PORT=str(smtp.port),
            OFFLOAD_SMTP_FROM=smtp.sender,
            OFFLOAD_SMTP_TIMEOUT="5",
        )
        broker = make_broker(settings.redis_url, worker_middleware(settings))
        made.append(broker)
        task_actor("email.send_notification", broker=broker)(actors.send_notification)
        task_actor("email.send_confirmation", broker=broker)(actors.send_confirmation)
        return broker, settings.smtp

    yield start
    for broker in made:
        disconnect(broker)


def finished(db, tenant, task):
    current = TaskStore(db).get(tenant, task.id)
    return current if current.status in FINISHED else None


def events(db, tenant, task):
    return [(e.status, e.detail) for e in TaskStore(db).events(tenant, task.id)]


NOTE = {"to": "ada@example.com", "subject": "Welcome", "body": "Hello Ada"}


# -- the jobs, called directly -------------------------------------------------------------------


def test_a_task_is_delivered_once_however_often_its_job_runs(db, tenant, smtp_server):
    mailbox = Mailbox()
    smtp = smtp_server(mailbox)
    task = create_task(db, tenant, "email.send_notification", NOTE)
    first = jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    again = jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert first == again == {"message_id": f"<{task.id}@offload>", "accepted": ["ada@example.com"]}
    assert len(mailbox.received) == 1
    assert deliveries.find(db, task.id) == deliveries.Delivery(
        f"<{task.id}@offload>", ["ada@example.com"]
    )


def test_each_task_gets_its_own_delivery(db, tenant, smtp_server):
    mailbox = Mailbox()
    smtp = smtp_server(mailbox)
    one, two = (create_task(db, tenant, "email.send_notification", NOTE) for _ in range(2))
    for task in (one, two):
        jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert [r.message["Message-ID"] for r in mailbox.received] == [
        f"<{one.id}@offload>",
        f"<{two.id}@offload>",
    ]


def test_a_failed_send_records_nothing_so_the_retry_sends(db, tenant, smtp_server):
    mailbox = Mailbox(data=["451 4.3.0 try later"])
    smtp = smtp_server(mailbox)
    task = create_task(db, tenant, "email.send_notification", NOTE)
    with pytest.raises(Exception, match="SMTP 451"):
        jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert deliveries.find(db, task.id) is None
    jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert len(mailbox.received) == 1


def test_partial_acceptance_delivers_and_reports_refused(db, tenant, smtp_server):
    mailbox = Mailbox(rcpt={"gone@example.com": ["550 5.1.1 no such user"]})
    smtp = smtp_server(mailbox)
    params = {**NOTE, "to": ["ada@example.com"], "cc": ["gone@example.com"]}
    task = create_task(db, tenant, "email.send_notification", params)
    result = jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert result == {
        "message_id": f"<{task.id}@offload>",
        "accepted": ["ada@example.com"],
        "refused": {"gone@example.com": "SMTP 550 5.1.1 no such user"},
    }
    [received] = mailbox.received
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.message["Cc"] == "gone@example.com"


def test_a_template_that_cannot_render_fails_for_good_without_sending(db, tenant, smtp_server):
    mailbox = Mailbox()
    smtp = smtp_server(mailbox)
    context = {"record_id": "1", "record_title": "Order", "summary": "not a mapping"}
    params = {"to": "ada@example.com", "template": "confirmation", "context": context}
    task = create_task(db, tenant, "email.send_notification", params)
    with pytest.raises(PermanentTaskError, match=r"template .confirmation."):
        jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert mailbox.received == []


# -- the actors on a real worker -----------------------------------------------------------------


def test_notification_through_the_worker(db, tenant, email_broker, run_worker):
    mailbox = Mailbox()
    broker, smtp = email_broker(mailbox)
    run_worker(broker)
    params = {
        "to": ["ada@example.com"],
        "cc": ["bob@example.com"],
        "reply_to": "help@example.com",
        "template": "welcome",
        "context": {"name": "Ada"},
    }
    task = submit_task(db, broker, tenant, "email.send_notification", params)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts) == ("completed", 1), done.error_message
    assert done.result == {
        "message_id": f"<{task.id}@offload>",
        "accepted": ["ada@example.com", "bob@example.com"],
    }
    [received] = mailbox.received
    assert (received.mail_from, received.rcpt_tos) == (smtp.sender, done.result["accepted"])
    assert received.message["Subject"] == "Welcome, Ada"
    assert received.message["Reply-To"] == "help@example.com"
    assert received.message["Message-ID"] == done.result["message_id"]
    assert received.message.get_content_type() == "multipart/alternative"


def test_confirmation_through_the_worker(db, tenant, email_broker, run_worker):
    mailbox = Mailbox()
    broker, _ = email_broker(mailbox)
    run_worker(broker)
    params = {
        "record_id": "ORD-42",
        "recipient": "buyer@example.com",
        "record_title": "Order",
        "record_summary": {"total": "12.50 EUR"},
    }
    task = submit_task(db, broker, tenant, "email.send_confirmation", params)
    done = wait_for(lambda: finished(db, tenant, task))
    assert done.status == "completed", done.error_message
    assert done.result == {"message_id": f"<{task.id}@offload>", "accepted": ["buyer@example.com"]}
    [received] = mailbox.received
    assert received.rcpt_tos == ["buyer@example.com"]
    assert received.message["Subject"] == "Confirmation: Order ORD-42"
    assert "total: 12.50 EUR" in received.message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "mailbox",
    [
        pytest.param(lambda: Mailbox(rcpt={"ada@example.com": ["451 4.3.0 try later"]}), id="rcpt"),
        pytest.param(lambda: Mailbox(data=["451 4.3.0 try later"]), id="data"),
    ],
)
def test_a_4xx_reply_is_retried_then_delivered_once(db, tenant, email_broker, run_worker, mailbox):
    mailbox = mailbox()
    broker, _ = email_broker(mailbox)
    run_worker(broker)
    task = submit_task(db, broker, tenant, "email.send_notification", NOTE)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.retry_count, done.attempts) == ("completed", 1, 2), done
    assert done.result == {"message_id": f"<{task.id}@offload>", "accepted": ["ada@example.com"]}
    assert len(mailbox.received) == 1
    [(status, detail)] = [e for e in events(db, tenant, task) if e[1]]
    assert status == "pending"
    assert detail.startswith("TemporarySmtpError: SMTP 451 4.3.0 try later")
    assert events(db, tenant, task)[-1] == ("completed", None)


def test_a_5xx_reply_fails_the_task_at_once(db, tenant, email_broker, run_worker):
    mailbox = Mailbox(rcpt={"ada@example.com": ["550 5.1.1 no such user"]})
    broker, _ = email_broker(mailbox)
    run_worker(broker)
    task = submit_task(db, broker, tenant, "email.send_notification", NOTE, max_retries=5)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts, done.retry_count) == ("failed", 1, 0)
    assert done.error_message.startswith("PermanentTaskError: SMTP 550 5.1.1 no such user")
    assert mailbox.received == []
    assert [status for status, _ in events(db, tenant, task)] == ["pending", "running", "failed"]


def test_a_task_delivered_before_its_message_is_redelivered_sends_nothing_more(
    db, tenant, email_broker, run_worker
):
    """An attempt that sent the email but whose outcome was lost: the next run must not resend."""
    mailbox = Mailbox()
    broker, smtp = email_broker(mailbox)
    task = submit_task(db, broker, tenant, "email.send_notification", NOTE)
    earlier = jobs.send_notification(task.id, task.params, smtp=smtp, db=db)
    assert len(mailbox.received) == 1
    run_worker(broker)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts) == ("completed", 1)
    assert done.result == earlier
    assert len(mailbox.received) == 1
