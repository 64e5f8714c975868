"""Dramatiq actors for the `email` queue. Thin: params in, the job's result out."""

from __future__ import annotations

from typing import Any

from offload_email_worker import jobs
from offload_shared.middleware import current_db
from offload_shared.models import Task
from offload_shared.worker import task_actor, worker_settings


@task_actor("email.send_notification")
def send_notification(task: Task) -> dict[str, Any]:
    return jobs.send_notification(
        task.id, task.params, smtp=worker_settings().smtp, db=current_db()
    )


@task_actor("email.send_confirmation")
def send_confirmation(task: Task) -> dict[str, Any]:
    return jobs.send_confirmation(
        task.id, task.params, smtp=worker_settings().smtp, db=current_db()
    )
