"""Real SMTP servers (aiosmtpd) for tests: a scriptable mailbox, a stalled one, and `serve`."""

from __future__ import annotations

import asyncio
import email
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import AuthResult, LoginPassword

from offload_dev.procs import free_port
from offload_shared.settings import SmtpSettings

SENDER = "app@example.com"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


class Mailbox(Sink):
    """Keeps every message it accepts. Scripted replies are given once each, in order, then 250.

    `rcpt` maps an address to the replies for its next RCPT commands; `data` holds the replies
    for the next messages' end of DATA.
    """

    def __init__(
        self, *, rcpt: dict[str, list[str]] | None = None, data: list[str] | None = None
    ) -> None:
        self.received: list[Received] = []
        self.rcpt = {address: list(replies) for address, replies in (rcpt or {}).items()}
        self.data = list(data or [])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        scripted = self.rcpt.get(address)
        if scripted:
            return scripted.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data:
            return self.data.pop(0)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,
                tls=server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 OK"


class Stalled(Mailbox):
    """Reads the whole message, then never answers."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.Event().wait()  # cancelled when the controller stops


def check_login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"mailer",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


def serve(handler, started: list[Controller], **options) -> SmtpSettings:
    """Start an aiosmtpd server on a free port; return plain-SMTP settings pointing at it."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    started.append(controller)
    return SmtpSettings(host="127.0.0.1", port=controller.port, sender=SENDER, timeout=5)
