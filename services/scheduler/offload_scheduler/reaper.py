"""The reaper: tasks stuck in `running` whose worker is gone, and pending tasks whose message
was lost, are sent round again (the `reap` and `republish` transitions); housekeeping of
workers and idempotency keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from offload_shared.db import Database
from offload_shared.sql import query
from offload_shared.store import TaskStore

log = logging.getLogger(__name__)

PACKAGE = "offload_scheduler"
OVERRUN_SECONDS = 60.0


@dataclass(frozen=True)
class Reaped:
    requeued: int
    ended: int
    republished: int


def reap_once(store: TaskStore, *, lost_seconds: float, republish_after_seconds: float) -> Reaped:
    lost = store.reap(lost_seconds=lost_seconds, overrun_seconds=OVERRUN_SECONDS)
    republished = store.republish_overdue(after_seconds=republish_after_seconds)
    reaped = Reaped(lost.requeued, lost.ended, republished)
    if reaped.requeued or reaped.ended or reaped.republished:
        log.warning(
            "reaper: %d lost task(s) requeued, %d ended, %d overdue republished",
            reaped.requeued, reaped.ended, reaped.republished,
        )  # fmt: skip
    return reaped


def housekeeping(db: Database, *, idempotency_ttl_hours: int) -> None:
    with db.connection() as conn:
        conn.execute(query("forget_workers", PACKAGE))
        conn.execute(query("expire_idempotency_keys", PACKAGE), {"hours": idempotency_ttl_hours})
