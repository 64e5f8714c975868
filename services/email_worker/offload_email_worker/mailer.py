"""Build and send an email over SMTP. Every network step has a timeout."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from offload_shared.settings import SmtpSettings


def message_id_for(task_id: uuid.UUID, domain: str = "offload") -> str:
    """Derived from the task id, so a repeated delivery carries the same Message-ID."""
    return f"<{task_id}@{domain}>"


def build_notification(params: dict[str, Any], *, sender: str, message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(params["to"])
    msg["Subject"] = params["subject"]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg.set_content(params["body"])
    return msg


def send(msg: EmailMessage, smtp: SmtpSettings) -> list[str]:
    """Send one message; return the recipients the server accepted.

    Raises smtplib.SMTPException / OSError; the caller's status middleware records them.
    """
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password)
        recipients = [a.addr_spec for a in msg["To"].addresses]
        refused = client.send_message(msg, to_addrs=recipients)
    return [r for r in recipients if r not in refused]
