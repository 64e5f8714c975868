"""Dramatiq actors for the `analytics` queue. Thin: hand the task to its job (see jobs.py)."""

from __future__ import annotations

from typing import Any

from offload_analytics_worker import jobs
from offload_shared.middleware import current_db, report_progress
from offload_shared.models import Task
from offload_shared.worker import task_actor, worker_settings


@task_actor("analytics.update_dashboard")
def update_dashboard(task: Task) -> dict[str, Any]:
    return jobs.update_dashboard(current_db(), task)


@task_actor("analytics.process_data")
def process_data(task: Task) -> dict[str, Any]:
    return jobs.process_data(current_db(), task)


@task_actor("analytics.sync_metrics")
def sync_metrics(task: Task) -> dict[str, Any]:
    return jobs.sync_metrics(current_db(), worker_settings(), task)


@task_actor("cleanup.old_records")
def cleanup_old_records(task: Task) -> dict[str, Any]:
    return jobs.cleanup_old_records(current_db(), task, progress=report_progress)
