"""Dramatiq actors for the `email` queue. Thin: params in, the job's result out."""

from __future__ import annotations

from typing import Any

from offload_email_worker import jobs
from offload_shared.context import TaskContext
from offload_shared.worker import task_actor


@task_actor("email.send_notification")
def send_notification(ctx: TaskContext) -> dict[str, Any]:
    return jobs.send_notification(ctx.task.id, ctx.params, smtp=ctx.settings.smtp, db=ctx.db)


@task_actor("email.send_confirmation")
def send_confirmation(ctx: TaskContext) -> dict[str, Any]:
    return jobs.send_confirmation(ctx.task.id, ctx.params, smtp=ctx.settings.smtp, db=ctx.db)
