"""The outbox relay: publishes what the API or a worker could not (Redis was away)."""

from __future__ import annotations

import logging

from offload_shared.broker import Publisher
from offload_shared.db import Database
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task, TaskStatus
from offload_shared.sql import query

log = logging.getLogger(__name__)

PACKAGE = "offload_scheduler"
BATCH = 500
MIN_AGE_SECONDS = 2.0  # younger rows are still being published by whoever wrote them


def relay_once(db: Database, publisher: Publisher) -> int:
    """Publish one batch of due outbox rows; return how many messages went out."""
    published = 0
    with db.transaction() as conn:
        rows = conn.execute(
            query("due_outbox", PACKAGE), {"min_age_seconds": MIN_AGE_SECONDS, "limit": BATCH}
        ).fetchall()
        done = []
        for row in rows:
            task = Task.from_row(row)
            if task.status is TaskStatus.PENDING:
                try:
                    publisher.publish(task)
                except BrokerUnavailable as exc:
                    log.warning("relay paused: %s", exc)
                    break
                published += 1
            done.append(task.id)  # not pending any more: nothing to publish
        if done:
            conn.execute(query("delete_outbox", PACKAGE), {"ids": done})
    if published:
        log.info("relay published %d task(s)", published)
    return published
