"""Send one message over SMTP and turn every way it can fail into "retry" or "give up".

Connecting uses the connect timeout; every later command waits at most the read timeout. TLS is
never downgraded: with `starttls` a server that does not offer STARTTLS is an error.

A 5xx reply raises PermanentTaskError (the task fails at once); a 4xx reply, a lost connection
or a timeout raises TemporarySmtpError, a RetryLater (the task is retried). Either message holds
the SMTP code and reply, which become the task's error_message; nothing here is logged.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from offload_shared.errors import PermanentTaskError, RetryLater
from offload_shared.settings import SmtpSettings


class TemporarySmtpError(RetryLater):
    """A 4xx reply, a lost connection or a timeout: the same message may go through later."""


@dataclass(frozen=True)
class Sent:
    """The server took the message for `accepted`; `refused` maps other addresses to replies."""

    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)


def send(msg: EmailMessage, smtp: SmtpSettings) -> Sent:
    """Deliver `msg` to every address in its To, Cc and Bcc headers."""
    recipients = envelope_recipients(msg)
    with _translated("could not connect to the SMTP server"):
        client = _connect(smtp)
    try:
        with _translated("SMTP session failed"):
            _start_session(client, smtp)
            refused = client.send_message(msg, to_addrs=recipients)
    except BaseException:
        client.close()
        raise
    _quit(client)
    return Sent(
        accepted=[r for r in recipients if r not in refused],
        refused={address: reply_text(*reply) for address, reply in refused.items()},
    )


def envelope_recipients(msg: EmailMessage) -> list[str]:
    """Every address in To, Cc and Bcc, once each, in order (Bcc itself is never transmitted)."""
    found: list[str] = []
    for name in ("To", "Cc", "Bcc"):
        header = msg[name]
        if header is not None:
            found.extend(address.addr_spec for address in header.addresses)
    return list(dict.fromkeys(found))


def reply_text(code: int, reply: bytes | str) -> str:
    """`SMTP 451 4.3.0 try later`: the code and the reply on one line."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(["SMTP", str(code), *text.split()])


def reply_error(code: int, reply: bytes | str) -> Exception:
    """5xx is permanent; anything else (4xx, or a code smtplib made up) is worth a retry."""
    text = reply_text(code, reply)
    return PermanentTaskError(text) if 500 <= code <= 599 else TemporarySmtpError(text)


def refused_error(refused: Mapping[str, tuple[int, bytes | str]]) -> Exception:
    """Nothing was sent because recipients were refused: permanent only if every refusal is 5xx.

    smtplib raises this when every recipient is refused, or on a 421 (the server is closing)
    after some were accepted; either way the message did not go out.
    """
    replies = list(refused.values())
    temporary = [reply for reply in replies if not 500 <= reply[0] <= 599]
    code, reply = (temporary or replies)[0]
    summary = f"{reply_text(code, reply)} ({len(replies)} recipient(s) refused)"
    return TemporarySmtpError(summary) if temporary else PermanentTaskError(summary)


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    """Connect and read the greeting within the connect timeout; then switch to the read timeout.

    The host goes to the constructor: smtplib checks the TLS certificate against it.
    """
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.connect_timeout, context=_tls_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.connect_timeout)
    if client.sock is not None:
        client.sock.settimeout(smtp.timeout)
    return client


def _start_session(client: smtplib.SMTP, smtp: SmtpSettings) -> None:
    if smtp.security == "starttls":
        client.starttls(context=_tls_context())  # raises if the server does not offer it
    if smtp.username:
        client.login(smtp.username, smtp.password or "")


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye after a delivery; the message is already accepted, so a failure is moot."""
    try:
        client.quit()
    except OSError:  # smtplib.SMTPException is an OSError
        client.close()


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Raise TemporarySmtpError or PermanentTaskError instead of smtplib's and socket errors."""
    try:
        yield
    except Exception as exc:
        error = _classify(exc, what)
        if error is None:
            raise
        raise error from exc


def _classify(exc: Exception, what: str) -> Exception | None:
    """The error to raise instead of `exc`, or None for one that is not about SMTP."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return refused_error(exc.recipients)
    if isinstance(exc, smtplib.SMTPResponseException):
        return reply_error(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentTaskError(f"{what}: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentTaskError(f"{what}: TLS certificate not trusted ({exc.verify_message})")
    if isinstance(exc, OSError):  # refused, reset, timed out, TLS handshake, disconnected
        return TemporarySmtpError(f"{what} ({type(exc).__name__}: {exc})")
    return None
