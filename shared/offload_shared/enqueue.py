"""The one enqueue path every caller uses: record the task in Postgres, then publish it."""

from __future__ import annotations

import logging
from typing import Any

from offload_shared.broker import Publisher
from offload_shared.catalog import TaskSpec
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task
from offload_shared.store import NewTask, TaskStore

log = logging.getLogger(__name__)


def new_task(
    spec: TaskSpec,
    tenant: str,
    params: dict[str, Any],
    *,
    priority: int | None = None,
    max_retries: int | None = None,
) -> NewTask:
    """A task row for `spec`; `params` must already have passed `spec.load_params`."""
    return NewTask(
        tenant=tenant,
        task_name=spec.name,
        task_type=spec.category,
        queue=spec.queue,
        priority=spec.default_priority if priority is None else priority,
        params=params,
        max_retries=spec.default_max_retries if max_retries is None else max_retries,
        time_limit_ms=spec.time_limit_ms,
    )


def submit(store: TaskStore, publisher: Publisher, new: NewTask) -> Task:
    """Insert the task (status pending, first history row) and publish its message.

    If Redis refuses the message the row is removed again, so a failed enqueue leaves nothing.
    """
    task = store.create(new)
    try:
        publisher.publish(task)
    except BrokerUnavailable:
        log.warning("publish failed for task %s; removing its row", task.id)
        store.delete(task.id)
        raise
    return task
