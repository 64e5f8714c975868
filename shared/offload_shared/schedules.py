"""Schedules: a tenant's cron or interval rule for one catalog task, and the record of its runs.

A schedule is stored with its params already validated against its task's schema (the API, the
CLI); `next_run_at` is its next fire time, NULL while it is paused. Every statement names the
tenant, so another tenant's schedule is not found. Firing is in schedule_firing.py; when a
schedule fires is schedule_times.py's business.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from offload_shared.db import Connection, Database, Json, wrap_exceptions
from offload_shared.errors import ScheduleConflict, ScheduleNotFound, StoreError
from offload_shared.models import FromRow, TaskStatus
from offload_shared.schedule_times import Misfire, Timing
from offload_shared.sql import Queries

__all__ = [
    "DEFAULTS",
    "Schedule",
    "ScheduleFields",
    "ScheduleRun",
    "ScheduleStore",
]

query = Queries("offload_shared", "schedules.sql")
UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class ScheduleFields:
    """What a schedule is, as a client sets it (validated: params by the task's schema, the
    rule by schedule_times)."""

    name: str
    task_name: str
    params: dict[str, Any]
    cron: str | None = None
    every_seconds: int | None = None
    timezone: str = "UTC"
    misfire: Misfire = "skip"
    enabled: bool = True
    priority: int | None = None  # None: the task's default

    @property
    def timing(self) -> Timing:
        return Timing(self.cron, self.every_seconds, self.timezone)

    def next_run_at(self, now: datetime) -> datetime | None:
        return self.timing.first(now) if self.enabled else None

    def row(self, next_run_at: datetime | None) -> dict[str, Any]:
        return {**asdict(self), "params": Json(self.params), "next_run_at": next_run_at}


@dataclass(frozen=True)
class Schedule(FromRow):
    id: uuid.UUID
    tenant: str
    name: str
    task_name: str
    params: dict[str, Any]
    priority: int | None
    cron: str | None
    every_seconds: int | None
    timezone: str
    misfire: Misfire
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None = None  # the latest run's fire time
    last_task_id: uuid.UUID | None = None
    last_task_status: TaskStatus | None = None
    last_run_error: str | None = None

    @property
    def fields(self) -> ScheduleFields:
        return ScheduleFields(
            name=self.name, task_name=self.task_name, params=self.params, cron=self.cron,
            every_seconds=self.every_seconds, timezone=self.timezone, misfire=self.misfire,
            enabled=self.enabled, priority=self.priority,
        )  # fmt: skip

    @property
    def timing(self) -> Timing:
        return Timing(self.cron, self.every_seconds, self.timezone)


@dataclass(frozen=True)
class ScheduleRun(FromRow):
    """One firing: its fire time, and the task it enqueued or why it enqueued none."""

    schedule_id: uuid.UUID
    fire_time: datetime
    fired_at: datetime
    manual: bool
    task_id: uuid.UUID | None
    error: str | None
    task_status: TaskStatus | None = None


# `offload schedules install-defaults`: the seed systems' periodic jobs.
DEFAULTS = (
    ScheduleFields(
        name="cleanup-old-records", task_name="cleanup.old_records", params={"days_to_keep": 90},
        cron="0 2 * * *", misfire="run_once",
    ),
    ScheduleFields(
        name="update-dashboard", task_name="analytics.update_dashboard", params={},
        every_seconds=300,
    ),
)  # fmt: skip


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant: str, fields: ScheduleFields, now: datetime) -> Schedule:
        """Store a new schedule; ScheduleConflict if the tenant has one of that name."""
        created = self.create_missing(tenant, fields, now)
        if created is None:
            raise ScheduleConflict("the tenant has a schedule of that name")
        return created

    def create_missing(self, tenant: str, fields: ScheduleFields, now: datetime) -> Schedule | None:
        """Store it unless the tenant has a schedule of that name (then None, nothing changed)."""
        row = self.db.fetch_one(
            query("create_schedule"),
            {**fields.row(fields.next_run_at(now)), "id": uuid.uuid4(), "tenant": tenant},
        )
        return Schedule.from_row(row) if row else None

    def get(self, tenant: str, schedule_id: uuid.UUID) -> Schedule:
        row = self.db.fetch_one(query("get_schedule"), {"tenant": tenant, "id": schedule_id})
        if row is None:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return Schedule.from_row(row)

    def find(self, tenant: str, *, limit: int, offset: int) -> list[Schedule]:
        rows = self.db.fetch_all(
            query("list_schedules"), {"tenant": tenant, "limit": limit, "offset": offset}
        )
        return [Schedule.from_row(row) for row in rows]

    def count(self, tenant: str) -> int:
        row = self.db.fetch_one(query("count_schedules"), {"tenant": tenant})
        return int(row["count"]) if row else 0

    def change(
        self,
        tenant: str,
        schedule_id: uuid.UUID,
        change: Callable[[ScheduleFields], ScheduleFields],
        now: datetime,
    ) -> Schedule:
        """Replace the schedule's fields by `change(current)` (which may raise to refuse), in
        one transaction that holds the row. A new rule, or a resumed schedule, starts afresh
        from `now` (no burst of the firings missed meanwhile); paused, it has no next run.
        A change that changes nothing writes nothing."""
        with self.db.transaction() as conn:
            current = self.lock(conn, tenant, schedule_id)
            before = current.fields
            after = change(before)
            if after == before:
                return self.get(tenant, schedule_id)  # nothing to write, not even updated_at
            next_run_at = current.next_run_at
            if not after.enabled:
                next_run_at = None
            elif not before.enabled or after.timing != before.timing:
                next_run_at = after.timing.first(now)
            try:
                with wrap_exceptions():  # here, to tell a taken name from other errors
                    conn.execute(
                        query("update_schedule"),
                        {**after.row(next_run_at), "tenant": tenant, "id": schedule_id},
                    )
            except StoreError as exc:
                if exc.sqlstate == UNIQUE_VIOLATION:
                    raise ScheduleConflict("the tenant has a schedule of that name") from None
                raise
        return self.get(tenant, schedule_id)

    def set_enabled(
        self, tenant: str, schedule_id: uuid.UUID, enabled: bool, now: datetime
    ) -> Schedule:
        """Pause or resume (a no-op if it already is so)."""
        return self.change(
            tenant,
            schedule_id,
            lambda f: replace(f, enabled=enabled),
            now,
        )

    def delete(self, tenant: str, schedule_id: uuid.UUID) -> None:
        """Delete the schedule and its runs (the tasks it enqueued stay)."""
        row = self.db.fetch_one(query("delete_schedule"), {"tenant": tenant, "id": schedule_id})
        if row is None:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")

    def runs(
        self, tenant: str, schedule_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[ScheduleRun], int]:
        """The schedule's runs, latest fire time first, and how many it has."""
        self.get(tenant, schedule_id)
        ids = {"id": schedule_id}
        rows = self.db.fetch_all(query("schedule_runs"), {**ids, "limit": limit, "offset": offset})
        total = self.db.fetch_one(query("count_schedule_runs"), ids)
        return [ScheduleRun.from_row(row) for row in rows], int(total["count"]) if total else 0

    @staticmethod
    def lock(conn: Connection, tenant: str, schedule_id: uuid.UUID) -> Schedule:
        """The schedule, its row locked until `conn`'s transaction ends (a firing of it in
        progress is waited for)."""
        row = conn.execute(query("lock_schedule"), {"tenant": tenant, "id": schedule_id}).fetchone()
        if row is None:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return Schedule.from_row(row)
