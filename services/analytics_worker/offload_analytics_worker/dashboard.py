"""The dashboard: per queue and task type, aggregated in SQL and finished in pandas.

What it holds (all for one tenant, at `generated_at`):

- `total`, `by_status`, `by_type` {type: {status: n}}, `by_queue` {queue: {status: n}}: every
  task, whatever its status (the dashboard's own task counts as running).
- `mean_duration_seconds`, `mean_duration_seconds_by_type`, and `durations` (count, mean, p50,
  p95): run time (completed_at - started_at of the last attempt) of completed tasks.
- `rates`: success_rate = completed / (completed + failed), failure_rate = failed / (completed +
  failed); cancelled tasks are left out (a cancel is a decision, not an outcome); null when
  nothing has completed or failed yet.
- `retries`: tasks retried at least once, total retries, mean retries per task.
- `throughput`: finished tasks (completed, failed or cancelled) per UTC hour over the last 24
  hours and per UTC day over the last 30 days, the current hour and day included, bucketed by
  completed_at; `buckets` labels the counts, oldest first.
- `top_errors`: the 10 most frequent final errors of failed tasks, with counts and last seen.

`rates`, `durations` and `retries` each have `overall`, `by_type` and `by_queue`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from offload_analytics_worker.queries import fetch_all, read_snapshot
from offload_shared.db import Database
from offload_shared.models import TaskStatus

STATUSES = [s.value for s in TaskStatus]
HOURS = 24
DAYS = 30
TOP_ERRORS = 10
ERROR_CHARS = 500

Row = dict[str, Any]
GROUPS = {"by_type": "task_type", "by_queue": "queue"}


@dataclass(frozen=True)
class DashboardRows:
    """What the SQL returns: small, pre-aggregated rows."""

    counts: list[Row]  # queue, task_type, status, n, retried, retries
    durations: list[Row]  # scope (overall|type|queue), key, n, mean/p50/p95_seconds
    hourly: list[Row]  # bucket (naive UTC), queue, task_type, n
    daily: list[Row]
    top_errors: list[Row]  # error_message, n, last_seen


@dataclass(frozen=True)
class Windows:
    """The throughput buckets: naive UTC datetimes, oldest first."""

    hours: list[datetime]
    days: list[datetime]

    @classmethod
    def ending_at(cls, now: datetime) -> Windows:
        utc = now.astimezone(UTC).replace(tzinfo=None)
        hour = utc.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        return cls(
            hours=[hour - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)],
            days=[day - timedelta(days=DAYS - 1 - i) for i in range(DAYS)],
        )


def compute(db: Database, tenant: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return summarize(fetch(db, tenant, now), now)


def fetch(db: Database, tenant: str, now: datetime) -> DashboardRows:
    windows = Windows.ending_at(now)
    key = {"tenant": tenant}

    def buckets(unit: str, starts: list[datetime], step: timedelta) -> dict[str, Any]:
        since, until = starts[0].replace(tzinfo=UTC), starts[-1].replace(tzinfo=UTC) + step
        return key | {"unit": unit, "since": since, "until": until}

    with read_snapshot(db) as conn:
        return DashboardRows(
            counts=fetch_all(conn, "status_counts", key),
            durations=fetch_all(conn, "duration_stats", key),
            hourly=fetch_all(
                conn, "finished_per_bucket", buckets("hour", windows.hours, timedelta(hours=1))
            ),
            daily=fetch_all(
                conn, "finished_per_bucket", buckets("day", windows.days, timedelta(days=1))
            ),
            top_errors=fetch_all(
                conn, "top_errors", key | {"limit": TOP_ERRORS, "max_chars": ERROR_CHARS}
            ),
        )


def summarize(rows: DashboardRows, now: datetime) -> dict[str, Any]:
    """Pure: turn the SQL rows into the dashboard (JSON-able, a few kB)."""
    counts = pd.DataFrame(
        rows.counts, columns=["queue", "task_type", "status", "n", "retried", "retries"]
    ).astype({"n": "int64", "retried": "int64", "retries": "int64"})
    durations = _durations(rows.durations)
    windows = Windows.ending_at(now)
    types = sorted(counts["task_type"].unique())
    queues = sorted(counts["queue"].unique())
    return {
        "generated_at": now.astimezone(UTC).isoformat(),
        "total": int(counts["n"].sum()),
        "by_status": _status_counts(counts),
        "by_type": _per_group(counts, "task_type", _status_counts),
        "by_queue": _per_group(counts, "queue", _status_counts),
        "mean_duration_seconds": durations["overall"]["mean_seconds"],
        "mean_duration_seconds_by_type": {
            k: v["mean_seconds"] for k, v in durations["by_type"].items() if v["count"]
        },
        "rates": _grouped(counts, _rates),
        "durations": durations,
        "retries": _grouped(counts, _retries),
        "throughput": {
            "hourly": _series(rows.hourly, windows.hours, types, queues, "%Y-%m-%dT%H:00:00Z"),
            "daily": _series(rows.daily, windows.days, types, queues, "%Y-%m-%d"),
        },
        "top_errors": [
            {
                "error_message": r["error_message"],
                "count": int(r["n"]),
                "last_seen": _iso(r["last_seen"]),
            }
            for r in rows.top_errors
        ],
    }


def _status_counts(frame: pd.DataFrame) -> dict[str, int]:
    sums = frame.groupby("status")["n"].sum()
    return {s: int(sums.get(s, 0)) for s in STATUSES}


def _rates(frame: pd.DataFrame) -> dict[str, Any]:
    by_status = _status_counts(frame)
    completed, failed = by_status["completed"], by_status["failed"]
    decided = completed + failed
    return {
        "completed": completed,
        "failed": failed,
        "success_rate": completed / decided if decided else None,
        "failure_rate": failed / decided if decided else None,
    }


def _retries(frame: pd.DataFrame) -> dict[str, Any]:
    tasks = int(frame["n"].sum())
    total = int(frame["retries"].sum())
    return {
        "tasks": tasks,
        "tasks_retried": int(frame["retried"].sum()),
        "total_retries": total,
        "mean_retries": total / tasks if tasks else None,
    }


def _per_group(
    frame: pd.DataFrame, column: str, stats: Callable[[pd.DataFrame], dict[str, Any]]
) -> dict[str, Any]:
    return {str(key): stats(group) for key, group in frame.groupby(column)}


def _grouped(
    frame: pd.DataFrame, stats: Callable[[pd.DataFrame], dict[str, Any]]
) -> dict[str, Any]:
    return {"overall": stats(frame)} | {
        name: _per_group(frame, column, stats) for name, column in GROUPS.items()
    }


def _durations(rows: list[Row]) -> dict[str, Any]:
    result: dict[str, Any] = {"overall": _duration(None), "by_type": {}, "by_queue": {}}
    for row in rows:
        if row["scope"] == "overall":
            result["overall"] = _duration(row)
        else:
            result[f"by_{row['scope']}"][str(row["key"])] = _duration(row)
    return result


def _duration(row: Row | None) -> dict[str, Any]:
    def number(name: str) -> float | None:
        value = row.get(name) if row else None
        return None if value is None else float(value)

    return {
        "count": int(row["n"]) if row else 0,
        "mean_seconds": number("mean_seconds"),
        "p50_seconds": number("p50_seconds"),
        "p95_seconds": number("p95_seconds"),
    }


def _series(
    rows: list[Row], starts: list[datetime], types: list[str], queues: list[str], label: str
) -> dict[str, Any]:
    """Counts per bucket: overall and per type and queue, zero-filled, aligned with `buckets`."""
    frame = pd.DataFrame(rows, columns=["bucket", "queue", "task_type", "n"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame["n"] = frame["n"].astype("int64")
    index = pd.DatetimeIndex(starts)

    def counts(selection: pd.DataFrame) -> list[int]:
        per_bucket = selection.groupby("bucket")["n"].sum().reindex(index, fill_value=0)
        return [int(n) for n in per_bucket]

    return {
        "buckets": [start.strftime(label) for start in starts],
        "overall": counts(frame),
        "by_type": {t: counts(frame[frame["task_type"] == t]) for t in types},
        "by_queue": {q: counts(frame[frame["queue"] == q]) for q in queues},
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
