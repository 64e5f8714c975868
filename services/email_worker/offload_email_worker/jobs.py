"""The email tasks as plain functions: build the message, send it once, return the result.

"Once" holds across redeliveries: a task whose delivery is on record returns that record
without contacting the SMTP server. Settings and the database are arguments, so tests and
other callers need no worker process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

from offload_email_worker import deliveries, mailer, messages
from offload_shared.db import Database
from offload_shared.errors import PermanentTaskError, StoreError
from offload_shared.settings import SmtpSettings

log = logging.getLogger(__name__)


class Builder(Protocol):
    def __call__(
        self, params: Mapping[str, Any], *, sender: str, message_id: str
    ) -> EmailMessage: ...


def send_notification(
    task_id: uuid.UUID, params: Mapping[str, Any], *, smtp: SmtpSettings, db: Database
) -> dict[str, Any]:
    """`email.send_notification`: to/cc/reply-to with text and/or HTML, or a template."""
    return send_once(task_id, params, messages.build_notification, smtp=smtp, db=db)


def send_confirmation(
    task_id: uuid.UUID, params: Mapping[str, Any], *, smtp: SmtpSettings, db: Database
) -> dict[str, Any]:
    """`email.send_confirmation`: the confirmation template for one record, to its recipient."""
    return send_once(task_id, params, messages.build_confirmation, smtp=smtp, db=db)


def send_once(
    task_id: uuid.UUID,
    params: Mapping[str, Any],
    build: Builder,
    *,
    smtp: SmtpSettings,
    db: Database,
) -> dict[str, Any]:
    """Send the task's email unless its delivery is on record; record it once the server accepts.

    Returns {"message_id", "accepted"} (+ "refused" when the server refused some recipients).
    """
    earlier = deliveries.find(db, task_id)
    if earlier is not None:
        log.info("task %s: already delivered as %s; not sending again", task_id, earlier.message_id)
        return earlier.result()

    message_id = messages.message_id_for(task_id)
    try:
        msg = build(params, sender=smtp.sender, message_id=message_id)
    except ValueError as exc:  # the same params would fail every time
        raise PermanentTaskError(f"the email could not be built: {exc}") from exc

    sent = mailer.send(msg, smtp)
    delivery = deliveries.Delivery(message_id, sent.accepted, sent.refused)
    try:
        deliveries.record(db, task_id, delivery)
    except StoreError as exc:
        # The server has the message: raising would retry the task and send it again.
        log.warning("task %s: delivered, but not recorded (%s)", task_id, type(exc).__name__)
    log.info(
        "task %s: %s accepted for %d of %d recipient(s)",
        task_id,
        message_id,
        len(sent.accepted),
        len(sent.accepted) + len(sent.refused),
    )
    return delivery.result()
