"""The mailer against a real SMTP server (aiosmtpd) on localhost."""

import email
import smtplib
import uuid
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from offload_dev.procs import free_port
from offload_email_worker import mailer
from offload_shared.settings import SmtpSettings


class Recorder(Sink):
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 OK"


class RejectAll(Sink):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 no such user"


@pytest.fixture
def smtp_server():
    def start(handler):
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        return SmtpSettings(
            host="127.0.0.1", port=controller.port, sender="app@example.com", timeout=5
        )

    started = []
    yield start
    for controller in started:
        controller.stop()


def notification(task_id):
    return mailer.build_notification(
        {"to": ["person@example.com"], "subject": "Your report", "body": "It is ready."},
        sender="app@example.com",
        message_id=mailer.message_id_for(task_id),
    )


def test_send_delivers_with_envelope_and_headers(smtp_server):
    recorder = Recorder()
    settings = smtp_server(recorder)
    task_id = uuid.uuid4()
    accepted = mailer.send(notification(task_id), settings)
    assert accepted == ["person@example.com"]
    [envelope] = recorder.received
    assert (envelope.mail_from, envelope.rcpt_tos) == ("app@example.com", ["person@example.com"])
    received = email.message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "Your report"
    assert received["Message-ID"] == f"<{task_id}@offload>"
    assert received.get_content().strip() == "It is ready."


def test_a_refused_recipient_raises(smtp_server):
    settings = smtp_server(RejectAll())
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mailer.send(notification(uuid.uuid4()), settings)
