"""Build the email a task sends: headers, a text and/or HTML body, or a rendered template."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from offload_shared import email_templates


@dataclass(frozen=True)
class Content:
    """What the reader sees: a subject and at least one of a text and an HTML body."""

    subject: str
    text: str | None = None
    html: str | None = None


def message_id_for(task_id: uuid.UUID, domain: str = "offload") -> str:
    """Derived from the task id, so a repeated delivery carries the same Message-ID."""
    return f"<{task_id}@{domain}>"


def compose(
    content: Content,
    *,
    sender: str,
    to: Sequence[str],
    message_id: str,
    cc: Sequence[str] = (),
    reply_to: str | None = None,
) -> EmailMessage:
    """One message: text/plain, text/html, or multipart/alternative when both bodies are given.

    Addresses are the validated ones, as given: quoted local parts keep their commas, and a
    non-ASCII address is sent with SMTPUTF8 (refused for good by a server without it).
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = content.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    if content.text is not None:
        msg.set_content(content.text)
        if content.html is not None:
            msg.add_alternative(content.html, subtype="html")
    elif content.html is not None:
        msg.set_content(content.html, subtype="html")
    else:
        raise ValueError("an email needs a text or an HTML body")
    return msg


def notification_content(params: Mapping[str, Any]) -> Content:
    """A named template rendered with its context, or the given subject and bodies.

    With a template, an explicit `subject` overrides the template's own.
    """
    if "template" in params:
        rendered = email_templates.render(params["template"], dict(params.get("context", {})))
        return Content(params.get("subject") or rendered.subject, rendered.text, rendered.html)
    return Content(params["subject"], params.get("body"), params.get("html"))


def confirmation_content(params: Mapping[str, Any]) -> Content:
    rendered = email_templates.render(
        "confirmation",
        {
            "record_id": params["record_id"],
            "record_title": params["record_title"],
            "summary": params["record_summary"],
        },
    )
    return Content(rendered.subject, rendered.text, rendered.html)


def build_notification(params: Mapping[str, Any], *, sender: str, message_id: str) -> EmailMessage:
    """`email.send_notification`'s message, from params SendNotificationParams has validated."""
    return compose(
        notification_content(params),
        sender=sender,
        to=params["to"],
        cc=params.get("cc", ()),
        reply_to=params.get("reply_to"),
        message_id=message_id,
    )


def build_confirmation(params: Mapping[str, Any], *, sender: str, message_id: str) -> EmailMessage:
    """`email.send_confirmation`'s message, from params SendConfirmationParams has validated."""
    return compose(
        confirmation_content(params),
        sender=sender,
        to=[params["recipient"]],
        message_id=message_id,
    )
