"""The reaper: tasks stuck in `running` whose worker is gone are sent round again (the `reap`
transition); housekeeping of workers, idempotency keys and schedule runs that enqueued
nothing."""

from __future__ import annotations

import logging

from offload_shared.db import Database, Queries
from offload_shared.store import Reaped, TaskStore

log = logging.getLogger(__name__)

PACKAGE = "offload_scheduler"
query = Queries(PACKAGE)
OVERRUN_SECONDS = 60.0


def reap_once(store: TaskStore, *, lost_seconds: float) -> Reaped:
    reaped = store.reap(lost_seconds=lost_seconds, overrun_seconds=OVERRUN_SECONDS)
    if reaped.requeued or reaped.ended:
        log.warning("reaper: %d lost task(s) requeued, %d ended", reaped.requeued, reaped.ended)
    return reaped


def housekeeping(db: Database, *, idempotency_ttl_hours: int) -> None:
    with db.connection() as conn:
        conn.execute(query("forget_workers"))
        conn.execute(query("expire_idempotency_keys"), {"hours": idempotency_ttl_hours})
        conn.execute(query("forget_unfired_runs"))
