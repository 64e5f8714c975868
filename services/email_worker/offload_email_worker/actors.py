"""Dramatiq actors for the `email` queue. Thin: decode params, call the mailer, return a summary."""

from __future__ import annotations

from typing import Any

from offload_email_worker import mailer
from offload_shared.models import Task
from offload_shared.settings import Settings
from offload_shared.worker import task_actor

SETTINGS = Settings.from_env()


@task_actor("email.send_notification")
def send_notification(task: Task) -> dict[str, Any]:
    message_id = mailer.message_id_for(task.id)
    msg = mailer.build_notification(task.params, sender=SETTINGS.smtp.sender, message_id=message_id)
    accepted = mailer.send(msg, SETTINGS.smtp)
    return {"message_id": message_id, "accepted": accepted}
