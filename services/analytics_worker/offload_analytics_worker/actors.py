"""Dramatiq actors for the `analytics` queue. Thin: hand the task to its job (see jobs.py)."""

from __future__ import annotations

from typing import Any

from offload_analytics_worker import jobs
from offload_shared.context import TaskContext
from offload_shared.worker import task_actor


@task_actor("analytics.update_dashboard")
def update_dashboard(ctx: TaskContext) -> dict[str, Any]:
    return jobs.update_dashboard(ctx.db, ctx.task)


@task_actor("analytics.process_data")
def process_data(ctx: TaskContext) -> dict[str, Any]:
    return jobs.process_data(ctx.db, ctx.task)


@task_actor("analytics.sync_metrics")
def sync_metrics(ctx: TaskContext) -> dict[str, Any]:
    return jobs.sync_metrics(ctx.db, ctx.settings, ctx.task)


@task_actor("cleanup.old_records")
def cleanup_old_records(ctx: TaskContext) -> dict[str, Any]:
    return jobs.cleanup_old_records(ctx.db, ctx.task, progress=ctx.checkpoint)
