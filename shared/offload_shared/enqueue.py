"""The one enqueue path every caller uses: record the task in Postgres, then publish it.

The task row, its history row and an outbox row are written in one transaction. The message is
published right after the commit and the outbox row removed; if Redis is unreachable the row
stays and the scheduler's relay publishes it later, so an accepted task is never lost.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from offload_shared.broker import Publisher
from offload_shared.catalog import TaskSpec
from offload_shared.db import wrap_exceptions
from offload_shared.errors import BrokerUnavailable, StoreError
from offload_shared.models import Task
from offload_shared.sql import query
from offload_shared.store import NewTask, TaskStore

log = logging.getLogger(__name__)


def new_task(
    spec: TaskSpec,
    tenant: str,
    params: dict[str, Any],
    *,
    priority: int | None = None,
    max_retries: int | None = None,
    delay_seconds: float | None = None,
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
        delay_seconds=delay_seconds or None,
    )


def publish(store: TaskStore, publisher: Publisher, task: Task) -> bool:
    """Publish a recorded task's message and clear its outbox row; False if left to the relay."""
    try:
        publisher.publish(task)
    except BrokerUnavailable as exc:
        log.warning("task %s stays in the outbox: %s", task.id, exc)
        return False
    try:
        store.outbox_done(task.id)
    except StoreError as exc:  # the relay will publish it again; the worker skips the duplicate
        log.warning("task %s published but its outbox row stays: %s", task.id, exc)
    return True


def submit(store: TaskStore, publisher: Publisher, new: NewTask) -> Task:
    """Record the task (pending) with its outbox row, then publish it."""
    task = store.create(new)
    publish(store, publisher, task)
    return task


def enqueue_in_transaction(conn: Connection, new: NewTask) -> Task:
    """Record a task inside the caller's own transaction on `conn` (a psycopg connection).

    Nothing is published here: if the transaction rolls back there is no task; once it commits,
    the scheduler's outbox relay publishes the message (within about a second).
    """
    with wrap_exceptions(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("insert_task"), new.row()).fetchone()
    assert row is not None
    return Task.from_row(row)
