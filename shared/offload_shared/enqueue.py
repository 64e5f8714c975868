"""The one enqueue path every caller uses: record the tasks in Postgres, then publish them.

The task rows, their history rows and their outbox rows are written in one statement (one
transaction), whether it is one task or a batch. The messages are published right after the
commit; if Redis is unreachable the outbox rows stay and the scheduler's relay publishes them
later, so an accepted task is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from offload_shared import transitions
from offload_shared.catalog import TaskSpec
from offload_shared.db import wrap_exceptions
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task
from offload_shared.publisher import Publisher
from offload_shared.store import NewTask, TaskStore

__all__ = [
    "NewTask",
    "enqueue_in_transaction",
    "new_task",
    "publish",
    "submit",
    "submit_many",
]

log = logging.getLogger(__name__)


def new_task(
    spec: TaskSpec,
    tenant: str,
    params: dict[str, Any],
    *,
    priority: int | None = None,
    max_retries: int | None = None,
    delay_seconds: float | None = None,
    request_id: str | None = None,
) -> NewTask:
    """A task row for `spec`; `params` must already have passed `spec.load_params`.
    `request_id`: the API request's id, when one enqueues it (kept on the row, in its logs)."""
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
        request_id=request_id,
    )


def publish(publisher: Publisher, tasks: Sequence[Task]) -> bool:
    """Publish recorded tasks; False if Redis refused and they were left to the outbox relay."""
    try:
        publisher.publish(tasks)
    except BrokerUnavailable as exc:
        log.warning("%d task(s) stay in the outbox: %s", len(tasks), exc)
        return False
    return True


def submit(store: TaskStore, publisher: Publisher, new: NewTask) -> Task:
    """Record the task (pending) with its outbox row, then publish it."""
    return submit_many(store, publisher, [new])[0]


def submit_many(store: TaskStore, publisher: Publisher, news: Sequence[NewTask]) -> list[Task]:
    """Record the tasks (all or none), then publish them in one round trip."""
    tasks = store.create_many(news)
    publish(publisher, tasks)
    return tasks


def enqueue_in_transaction(conn: Connection[Any], new: NewTask) -> Task:
    """Record a task inside the caller's own transaction on `conn` (a psycopg connection).

    Nothing is published here: if the transaction rolls back there is no task; once it commits,
    the scheduler's outbox relay publishes the message (within about a second).
    """
    row = new.row()
    with wrap_exceptions(), conn.cursor(row_factory=dict_row) as cur:
        created = cur.execute(transitions.CREATE.sql, transitions.CREATE.params([row])).fetchone()
    assert created is not None
    return new.task(row, created)
