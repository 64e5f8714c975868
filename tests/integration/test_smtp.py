"""The mailer against real SMTP servers (aiosmtpd) on localhost: plain, STARTTLS, implicit TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from offload_dev.procs import free_port
from offload_email_worker import mailer, messages
from offload_shared.errors import PermanentTaskError
from offload_shared.settings import SmtpSettings
from tests.smtp_servers import SENDER, Mailbox, Stalled, check_login, serve


@pytest.fixture
def smtp_server():
    started: list[Controller] = []
    yield lambda handler, **options: serve(handler, started, **options)
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trust_certificate(certificate, monkeypatch):
    """The mailer uses the default trust store; point it at the test certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


def notification(**params) -> EmailMessage:
    return messages.build_notification(
        {"to": ["person@example.com"], "subject": "Your report", "body": "It is ready.", **params},
        sender=SENDER,
        message_id=messages.message_id_for(uuid.uuid4()),
    )


def test_send_delivers_with_envelope_and_headers(smtp_server):
    mailbox = Mailbox()
    settings = smtp_server(mailbox)
    msg = notification(cc=["boss@example.com"], reply_to="help@example.com")
    sent = mailer.send(msg, settings)
    assert sent == mailer.Sent(accepted=["person@example.com", "boss@example.com"])
    [received] = mailbox.received
    assert (received.mail_from, received.rcpt_tos) == (SENDER, sent.accepted)
    headers = {name: received.message[name] for name in ("From", "To", "Cc", "Reply-To")}
    assert headers == {
        "From": SENDER,
        "To": "person@example.com",
        "Cc": "boss@example.com",
        "Reply-To": "help@example.com",
    }
    assert received.message["Subject"] == "Your report"
    assert received.message["Message-ID"] == msg["Message-ID"]
    assert received.message.get_content().strip() == "It is ready."
    assert not received.tls


def test_partial_acceptance_delivers_and_reports_the_refused(smtp_server):
    mailbox = Mailbox(rcpt={"gone@example.com": ["550 5.1.1 no such user"]})
    sent = mailer.send(
        notification(to=["gone@example.com", "here@example.com"]), smtp_server(mailbox)
    )
    assert sent.accepted == ["here@example.com"]
    assert sent.refused == {"gone@example.com": "SMTP 550 5.1.1 no such user"}
    [received] = mailbox.received
    assert received.rcpt_tos == ["here@example.com"]


def test_every_recipient_refused_for_good_is_permanent(smtp_server):
    mailbox = Mailbox(rcpt={"person@example.com": ["550 5.1.1 no such user"]})
    with pytest.raises(PermanentTaskError, match=r"^SMTP 550 5\.1\.1 no such user"):
        mailer.send(notification(), smtp_server(mailbox))
    assert mailbox.received == []


def test_a_temporary_refusal_with_no_recipient_accepted_is_retryable(smtp_server):
    mailbox = Mailbox(
        rcpt={
            "a@example.com": ["550 5.1.1 no such user"],
            "b@example.com": ["450 4.2.1 mailbox busy"],
        }
    )
    with pytest.raises(mailer.TemporarySmtpError, match=r"^SMTP 450 4\.2\.1 mailbox busy"):
        mailer.send(notification(to=["a@example.com", "b@example.com"]), smtp_server(mailbox))
    assert mailbox.received == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 try later", mailer.TemporarySmtpError),
        ("554 5.6.0 rejected", PermanentTaskError),
    ],
)
def test_a_reply_to_data_is_classified_by_its_code(smtp_server, reply, error):
    mailbox = Mailbox(data=[reply])
    with pytest.raises(error) as raised:
        mailer.send(notification(), smtp_server(mailbox))
    assert str(raised.value) == f"SMTP {reply}"
    assert mailbox.received == []


def test_an_unreachable_server_is_retryable():
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), connect_timeout=2)
    with pytest.raises(mailer.TemporarySmtpError, match=r"could not connect.*ConnectionRefused"):
        mailer.send(notification(), settings)


def test_a_server_that_stops_answering_times_out_after_the_read_timeout(smtp_server):
    settings = smtp_server(Stalled())
    settings = SmtpSettings(host=settings.host, port=settings.port, connect_timeout=30, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(mailer.TemporarySmtpError, match=r"SMTP session failed.*timed out"):
        mailer.send(notification(), settings)
    assert time.monotonic() - started < 10  # the read timeout applied, not the connect timeout


def test_starttls_with_login(smtp_server, server_tls, trust_certificate):
    mailbox = Mailbox()
    plain = smtp_server(
        mailbox, tls_context=server_tls, require_starttls=True, authenticator=check_login
    )
    settings = SmtpSettings(
        host=plain.host,
        port=plain.port,
        security="starttls",
        username="mailer",
        password="s3cret",
        sender=SENDER,
    )
    assert mailer.send(notification(), settings).accepted == ["person@example.com"]
    [received] = mailbox.received
    assert (received.tls, received.authenticated) == (True, True)


def test_implicit_tls_with_login(smtp_server, server_tls, trust_certificate):
    mailbox = Mailbox()
    # aiosmtpd offers AUTH on a TLS connection only after its own STARTTLS unless told otherwise.
    plain = smtp_server(
        mailbox, ssl_context=server_tls, authenticator=check_login, auth_require_tls=False
    )
    settings = SmtpSettings(
        host=plain.host,
        port=plain.port,
        security="ssl",
        username="mailer",
        password="s3cret",
        sender=SENDER,
    )
    assert mailer.send(notification(), settings).accepted == ["person@example.com"]
    [received] = mailbox.received
    assert (received.tls, received.authenticated) == (True, True)


def test_wrong_credentials_are_permanent(smtp_server, server_tls, trust_certificate):
    plain = smtp_server(Mailbox(), tls_context=server_tls, authenticator=check_login)
    settings = SmtpSettings(
        host=plain.host, port=plain.port, security="starttls", username="mailer", password="nope"
    )
    with pytest.raises(PermanentTaskError, match=r"^SMTP 535 "):
        mailer.send(notification(), settings)


def test_starttls_is_never_skipped_when_the_server_lacks_it(smtp_server):
    mailbox = Mailbox()
    plain = smtp_server(mailbox)
    settings = SmtpSettings(host=plain.host, port=plain.port, security="starttls")
    with pytest.raises(PermanentTaskError, match="STARTTLS"):
        mailer.send(notification(), settings)
    assert mailbox.received == []


def test_an_untrusted_certificate_is_permanent(smtp_server, server_tls):
    plain = smtp_server(Mailbox(), tls_context=server_tls)
    settings = SmtpSettings(host=plain.host, port=plain.port, security="starttls")
    with pytest.raises(PermanentTaskError, match="certificate not trusted"):
        mailer.send(notification(), settings)
