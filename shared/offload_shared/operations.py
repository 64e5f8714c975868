"""What operators look at and act on: per-queue figures, throughput, worker processes, the feed
of transitions, and bulk retry or cancel of a filtered set (operations.sql).

The dashboard and the CLI's API endpoints ask for one tenant's view; the metrics for every
tenant's (`tenant=None`). Every figure comes from Postgres, so it is the same whichever
process is asked, and survives restarts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from offload_shared.catalog import QUEUES
from offload_shared.db import Database
from offload_shared.enqueue import publish
from offload_shared.models import TaskStatus
from offload_shared.publisher import Publisher
from offload_shared.sql import Queries
from offload_shared.store import TaskFilter, TaskStore

__all__ = [
    "ACTION_STATUSES",
    "BulkResult",
    "CleanupPlan",
    "OutboxLag",
    "QueueStats",
    "RunningTask",
    "TenantEvent",
    "ThroughputBucket",
    "WorkerInfo",
    "bulk_apply",
    "cleanup_plan",
    "events_after",
    "latest_event_id",
    "outbox_lag",
    "queue_stats",
    "throughput",
    "workers",
]

query = Queries("offload_shared", "operations.sql")
BATCH = 500
# The statuses each bulk action applies to (the state machine's: transitions.py).
ACTION_STATUSES: dict[str, tuple[TaskStatus, ...]] = {
    "retry": (TaskStatus.FAILED, TaskStatus.CANCELLED),
    "cancel": (TaskStatus.PENDING, TaskStatus.RUNNING),
}


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int = 0  # pending, due now, not held back by a task limit
    delayed: int = 0  # pending, due later (a delay, or a retry's backoff)
    waiting: int = 0  # pending, held back by a rate or concurrency limit
    running: int = 0
    backlog: int = 0  # what KEDA scales the queue's worker by: running, and ready within 30 s
    completed_last_hour: int = 0
    failed_last_hour: int = 0
    cancelled_last_hour: int = 0
    oldest_ready_age_seconds: float | None = None  # the oldest due pending task's wait


def queue_stats(db: Database, tenant: str | None, *, finished: bool = True) -> list[QueueStats]:
    """Per queue, by name; every built-in queue appears (zeros when idle). With `tenant` None,
    every tenant's; the last hour's finished counts only for one tenant, or when `finished`
    (they scan the last hour's finished tasks, which the metrics count themselves)."""
    by_queue: dict[str, dict[str, object]] = {q: {} for q in QUEUES}
    for row in db.fetch_all(query("queue_backlog"), {"tenant": tenant}):
        by_queue.setdefault(row["queue"], {}).update({k: v for k, v in row.items() if k != "queue"})
    if tenant is not None and finished:
        since = datetime.now(UTC) - timedelta(hours=1)
        for row in db.fetch_all(query("queue_finished"), {"tenant": tenant, "since": since}):
            by_queue.setdefault(row["queue"], {})[f"{row['status']}_last_hour"] = row["count"]
    return [QueueStats(queue, **fields) for queue, fields in sorted(by_queue.items())]  # type: ignore[arg-type]


@dataclass(frozen=True)
class ThroughputBucket:
    start: datetime  # the bucket's start (UTC)
    queue: str
    completed: int
    failed: int


def throughput(
    db: Database, tenant: str, *, since: timedelta, bucket: timedelta
) -> list[ThroughputBucket]:
    """The tenant's finished tasks per bucket and queue over the last `since`, oldest first;
    every bucket of every queue that finished anything in the window is present."""
    seconds = bucket.total_seconds()
    start = datetime.now(UTC) - since
    rows = db.fetch_all(
        query("throughput"), {"tenant": tenant, "since": start, "bucket_seconds": seconds}
    )
    found = {(r["start"], r["queue"]): r for r in rows}
    first = datetime.fromtimestamp(start.timestamp() // seconds * seconds, UTC)
    starts = [first + bucket * i for i in range(int(since / bucket) + 1)]
    return [
        ThroughputBucket(
            at,
            queue,
            int(found[at, queue]["completed"]) if (at, queue) in found else 0,
            int(found[at, queue]["failed"]) if (at, queue) in found else 0,
        )
        for at in starts
        for queue in sorted({r["queue"] for r in rows})
    ]


@dataclass(frozen=True)
class RunningTask:
    id: uuid.UUID
    task_name: str
    progress: int
    started_at: datetime | None


@dataclass(frozen=True)
class WorkerInfo:
    id: uuid.UUID
    queue: str
    hostname: str
    pid: int
    threads: int  # the process's Dramatiq threads (0: a worker from before migration 0009)
    started_at: datetime
    seen_at: datetime
    alive: bool  # heartbeat younger than OFFLOAD_WORKER_LOST_SECONDS
    running: list[RunningTask]  # the tenant's tasks it runs now (everyone's for None)


def workers(db: Database, tenant: str | None, *, lost_seconds: float) -> list[WorkerInfo]:
    """Every registered worker process (one per Dramatiq process), alive first, by queue."""
    rows = db.fetch_all(query("workers"), {"tenant": tenant, "lost_seconds": lost_seconds})
    return [
        WorkerInfo(
            **{k: v for k, v in row.items() if k != "running"},
            running=[
                RunningTask(
                    uuid.UUID(t["id"]),
                    t["task_name"],
                    t["progress"],
                    datetime.fromisoformat(t["started_at"]) if t["started_at"] else None,
                )
                for t in row["running"]
            ],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class TenantEvent:
    id: int  # task_events.id: a cursor, increasing
    task_id: uuid.UUID
    task_name: str
    queue: str
    status: TaskStatus
    attempt: int
    detail: str | None
    at: datetime


def events_after(
    db: Database, tenant: str, after_id: int, *, limit: int = 500
) -> list[TenantEvent]:
    """The tenant's transitions after the cursor `after_id`, oldest first."""
    rows = db.fetch_all(
        query("events_after"), {"tenant": tenant, "after_id": after_id, "limit": limit}
    )
    return [TenantEvent(**{**row, "status": TaskStatus(row["status"])}) for row in rows]


@dataclass(frozen=True)
class OutboxLag:
    due: int  # rows the relay may publish (published ones wait for their sweep a moment)
    lag_seconds: float  # how long the oldest due row has waited; 0 when none


def outbox_lag(db: Database) -> OutboxLag:
    row = db.fetch_one(query("outbox_lag"))
    return OutboxLag(int(row["due"]), float(row["lag_seconds"])) if row else OutboxLag(0, 0.0)


def latest_event_id(db: Database) -> int:
    """The cursor of now: events_after it returns only what happens from here on."""
    row = db.fetch_one(query("latest_event_id"))
    return int(row["id"]) if row else 0


@dataclass(frozen=True)
class BulkResult:
    matched: int  # tasks the filter matched that the action applies to
    changed: int  # tasks it changed (0 on a dry run)


def bulk_apply(
    store: TaskStore,
    publisher: Publisher,
    tenant: str,
    action: Literal["retry", "cancel"],
    where: TaskFilter,
    *,
    dry_run: bool,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Retry (failed or cancelled → pending, published) or cancel (pending → cancelled and
    taken out of its queue; running → cancel requested) the tenant's tasks matching `where`,
    in batches of 500 ids walked by id, one set-based statement each. `limit` caps how many
    are changed in this call (a client pages through a large set); `progress(n)` is called
    after each batch with the count changed so far."""
    statuses = [s for s in ACTION_STATUSES[action] if where.status in (None, s)]
    matched = sum(store.count(tenant, _with_status(where, s)) for s in statuses)
    if dry_run or not statuses:
        return BulkResult(matched, 0)
    changed, after = 0, uuid.UUID(int=0)
    while limit is None or changed < limit:
        size = BATCH if limit is None else min(BATCH, limit - changed)
        ids = store.matching_ids(tenant, where, statuses, after=after, limit=size)
        if not ids:
            break
        after = ids[-1]
        if action == "retry":
            tasks = store.resubmit_many(tenant, ids)
            publish(publisher, tasks)
        else:
            tasks = store.cancel_many(tenant, ids)
            for task in tasks:
                if task.status is TaskStatus.CANCELLED:
                    publisher.retract(task)
        changed += len(tasks)
        if progress is not None:
            progress(changed)
    return BulkResult(matched, changed)


def _with_status(where: TaskFilter, status: TaskStatus) -> TaskFilter:
    return TaskFilter(**{**where.__dict__, "status": status})


@dataclass(frozen=True)
class CleanupPlan:
    """What cleanup.old_records would delete for a tenant now."""

    cutoff: datetime  # finished tasks and snapshots older than this go
    tasks: int  # finished tasks, with their history, deliveries and artifacts
    artifacts: int  # artifacts past their expiry
    snapshots: int  # analytics snapshots, the latest of each kind always kept

    @property
    def total(self) -> int:
        return self.tasks + self.artifacts + self.snapshots


def cleanup_plan(
    db: Database,
    tenant: str,
    *,
    days_to_keep: int,
    now: datetime | None = None,
    keep_task_id: uuid.UUID | None = None,
) -> CleanupPlan:
    """Count what a cleanup keeping `days_to_keep` days would delete (the cleanup task
    `keep_task_id` itself is never counted): its progress figure, and `offload cleanup
    --dry-run`."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days_to_keep)
    key = {"tenant": tenant, "cutoff": cutoff, "now": now, "keep_task_id": keep_task_id}
    row = db.fetch_one(query("cleanup_candidates"), key) or {}
    return CleanupPlan(cutoff, *(int(row.get(k, 0)) for k in ("tasks", "artifacts", "snapshots")))
