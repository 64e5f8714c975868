"""Dramatiq actors for the `analytics` queue. Thin: compute, store a snapshot, return it."""

from __future__ import annotations

from typing import Any

from offload_analytics_worker import dashboard
from offload_shared import snapshots
from offload_shared.middleware import current_db
from offload_shared.models import Task
from offload_shared.worker import task_actor


@task_actor("analytics.update_dashboard")
def update_dashboard(task: Task) -> dict[str, Any]:
    data = dashboard.compute(current_db(), task.tenant)
    snapshots.save(current_db(), task.tenant, "dashboard", task.id, data)
    return data
