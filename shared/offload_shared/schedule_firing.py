"""Firing schedules: each fire time once, its task through the one enqueue path.

The scheduler's leader calls `fire_due` on every turn of its loop. Each due schedule is fired in
one transaction of its own, which

1. locks the schedule's row (`FOR UPDATE SKIP LOCKED`: a schedule another scheduler is firing
   is left to it),
2. works out its due fire times (schedule_times.plan: the grace window, the misfire policy),
3. for each, inserts the (schedule, fire time) record, and only if that row is new enqueues the
   task with `enqueue_in_transaction` (task, history and outbox rows in the same transaction),
4. moves `next_run_at` past now,

and publishes the tasks once it has committed (if that publish fails, or the process dies
first, the outbox relay publishes them). A scheduler killed anywhere in between leaves nothing
behind, and the next leader fires the same times; the unique record is the safety net should
two schedulers ever both fire (a leader that lost its lock mid-pass). A task's params are
validated again against the catalog as it is at fire time: a run whose params no longer
validate, or whose task left the catalog, is recorded with the reason (field names, never
values) and enqueues nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from marshmallow import ValidationError

from offload_shared.catalog import get_spec
from offload_shared.db import Connection, Database
from offload_shared.enqueue import enqueue_in_transaction, new_task, publish
from offload_shared.errors import (
    OffloadError,
    ScheduleConflict,
    StoreUnavailable,
    UnknownTask,
)
from offload_shared.models import Task
from offload_shared.publisher import Publisher
from offload_shared.schedule_times import plan
from offload_shared.schedules import Schedule, ScheduleRun, ScheduleStore
from offload_shared.sql import Queries

__all__ = [
    "BATCH",
    "Fired",
    "fire",
    "fire_due",
    "fire_now",
]

log = logging.getLogger(__name__)
query = Queries("offload_shared", "schedules.sql")
BATCH = 100  # schedules fired per pass at most; the rest on the next turn


@dataclass(frozen=True)
class Fired:
    run: ScheduleRun
    task: Task | None  # None: the run enqueued nothing (`run.error` says why)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def fire_due(
    db: Database,
    publisher: Publisher,
    *,
    grace: timedelta,
    clock: Callable[[], datetime] = _utcnow,
    batch: int = BATCH,
) -> int:
    """Fire up to `batch` due schedules, each in its own transaction; return the runs
    recorded. Raises StoreUnavailable if Postgres is away; any other failure of one schedule
    is logged and the pass goes on with the others."""
    runs = 0
    failed: list[uuid.UUID] = []
    for _ in range(batch):
        current: uuid.UUID | None = None
        try:
            with db.transaction() as conn:
                now = clock()
                row = conn.execute(query("due_schedule"), {"now": now, "skip": failed}).fetchone()
                if row is None:
                    break
                current = row["id"]
                fired = _fire_schedule(conn, Schedule.from_row(row), now, grace)
        except StoreUnavailable:
            raise
        except (OffloadError, ValueError) as exc:
            if current is None:
                raise
            log.warning("schedule %s not fired, tried again next turn: %s", current, exc)
            failed.append(current)
            continue
        runs += len(fired)
        publish(publisher, [f.task for f in fired if f.task is not None])
    return runs


def _fire_schedule(
    conn: Connection, schedule: Schedule, now: datetime, grace: timedelta
) -> list[Fired]:
    assert schedule.next_run_at is not None  # the due scan reads enabled schedules only
    todo = plan(schedule.timing, schedule.next_run_at, now, grace=grace, misfire=schedule.misfire)
    if todo.missed_from is not None:
        log.warning(
            "schedule %s: fire times from %s to %s are older than the grace window (%s s): %s",
            schedule.id, todo.missed_from.isoformat(), _iso(todo.missed_until),
            grace.total_seconds(),
            "one run for the latest" if schedule.misfire == "run_once" else "skipped",
        )  # fmt: skip
    fired = [f for t in todo.fire_times if (f := fire(conn, schedule, t, fired_at=now)) is not None]
    conn.execute(query("advance_schedule"), {"id": schedule.id, "next_run_at": todo.next_run_at})
    return fired


def fire(
    conn: Connection,
    schedule: Schedule,
    fire_time: datetime,
    *,
    fired_at: datetime,
    manual: bool = False,
    strict: bool = False,
    request_id: str | None = None,
) -> Fired | None:
    """Record the run of `fire_time` and enqueue its task, inside `conn`'s transaction; None if
    that fire time has a run already (nothing is enqueued then). Params that no longer
    validate make a run without a task, unless `strict`: then ValidationError (or UnknownTask)
    is raised and the caller's transaction should roll back. `request_id`: a manual run's API
    request (a scheduled run has none)."""
    error = None
    try:
        spec = get_spec(schedule.task_name)
        params = spec.load_params(schedule.params)
    except UnknownTask:
        if strict:
            raise
        error = f"task {schedule.task_name!r} is not in the catalog"
    except ValidationError as exc:
        if strict:
            raise
        error = "params no longer valid for the task" + _fields(exc)
    claimed = conn.execute(
        query("claim_fire_time"),
        {"schedule_id": schedule.id, "fire_time": fire_time, "manual": manual, "error": error,
         "fired_at": fired_at},
    ).fetchone()  # fmt: skip
    if claimed is None:
        return None
    task = None
    if error is None:
        new = new_task(
            spec, schedule.tenant, params, priority=schedule.priority, request_id=request_id
        )
        task = enqueue_in_transaction(conn, new)
        conn.execute(
            query("set_run_task"),
            {"schedule_id": schedule.id, "fire_time": fire_time, "task_id": task.id},
        )
    else:
        log.warning("schedule %s: run of %s enqueued nothing: %s", schedule.id,
                    fire_time.isoformat(), error)  # fmt: skip
    run = ScheduleRun.from_row(
        {
            **claimed,
            "task_id": task.id if task else None,
            "task_status": task.status if task else None,
        }
    )
    return Fired(run, task)


def fire_now(
    db: Database,
    tenant: str,
    schedule_id: uuid.UUID,
    now: datetime,
    request_id: str | None = None,
) -> Fired:
    """A manual run (POST .../run-now): fired at once through the same path, with fire time
    `now`, whether the schedule is paused or not; its next_run_at is left as it is. Raises
    ScheduleNotFound, and ValidationError or UnknownTask if its params no longer validate
    (nothing is recorded then). The caller publishes the task."""
    # Scheduled fire times are whole seconds: a manual run never takes one of theirs.
    fire_time = now if now.microsecond else now + timedelta(microseconds=1)
    with db.transaction() as conn:
        schedule = ScheduleStore.lock(conn, tenant, schedule_id)
        fired = fire(
            conn, schedule, fire_time, fired_at=now, manual=True, strict=True,
            request_id=request_id,
        )  # fmt: skip
        if fired is None:
            raise ScheduleConflict("the schedule has a run at this very instant; try again")
    return fired


def _fields(exc: ValidationError) -> str:
    messages = exc.messages
    if isinstance(messages, dict) and messages:
        return ": " + ", ".join(sorted(str(name) for name in messages))
    return ""


def _iso(t: datetime | None) -> str:
    return t.isoformat() if t else "-"
