"""The outbox relay: publishes what the API or a worker could not (Redis was away, or the
process died between its commit and its publish)."""

from __future__ import annotations

import logging

from offload_shared.db import Database, Queries
from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task, TaskStatus
from offload_shared.publisher import Publisher

log = logging.getLogger(__name__)

PACKAGE = "offload_scheduler"
query = Queries(PACKAGE)
BATCH = 500
MIN_AGE_SECONDS = 2.0  # younger rows are still being published by whoever wrote them


def relay_once(db: Database, publisher: Publisher) -> int:
    """Publish one batch of due outbox rows in one round trip; return how many went out."""
    with db.transaction() as conn:
        rows = conn.execute(
            query("due_outbox"), {"min_age_seconds": MIN_AGE_SECONDS, "limit": BATCH}
        ).fetchall()
        tasks = [Task.from_row(row) for row in rows]
        pending = [task for task in tasks if task.status is TaskStatus.PENDING]
        try:
            publisher.publish(pending)
        except BrokerUnavailable as exc:
            log.warning("relay paused: %s", exc)
            return 0
        if tasks:  # published, or not pending any more: nothing to publish
            conn.execute(query("delete_outbox"), {"ids": [task.id for task in tasks]})
    if pending:
        log.info("relay published %d task(s)", len(pending))
    return len(pending)
