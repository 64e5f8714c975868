"""analytics.update_dashboard against real Postgres: every figure equals an independent count."""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from offload_analytics_worker import jobs
from offload_shared import snapshots
from offload_shared.db import Database
from tests.seeding import running_job, seed

STATUSES = ["pending", "running", "completed", "failed", "cancelled"]
FINISHED = {"completed", "failed", "cancelled"}
# task name -> (task type, queue); cleanup runs on the analytics queue, so type != queue.
KINDS = {
    "email.send_notification": ("email", "email"),
    "reports.generate_excel": ("report", "reports"),
    "analytics.process_data": ("analytics", "analytics"),
    "cleanup.old_records": ("cleanup", "analytics"),
}
ERRORS = [f"Error{i}: failure number {i}" for i in range(14)]


@dataclass
class Seeded:
    task_type: str
    queue: str
    status: str
    retry_count: int
    duration: float | None = None
    completed_at: datetime | None = None
    error: str | None = None


def seed_history(db, tenant, now, rng, count=120):
    rows = []
    for _ in range(count):
        name = rng.choice(list(KINDS))
        task_type, queue = KINDS[name]
        status = rng.choice(STATUSES)
        created = now - timedelta(days=rng.uniform(0.01, 45))
        row = Seeded(task_type, queue, status, retry_count=rng.choice([0, 0, 0, 1, 2, 3]))
        started = completed = None
        if status != "pending":
            row.duration = round(rng.uniform(0.05, 300), 6)
            started = created + timedelta(seconds=1)
        if status in FINISHED:
            completed = started + timedelta(seconds=row.duration)
            row.completed_at = completed
        if status == "failed":  # a skewed choice, so the top-10 cut is a real cut
            row.error = ERRORS[min(int(rng.expovariate(0.25)), len(ERRORS) - 1)]
        seed(
            db,
            tenant,
            name,
            status=status,
            created_at=created,
            started_at=started,
            completed_at=completed,
            error=row.error,
            retry_count=row.retry_count,
        )
        rows.append(row)
    return rows


def percentile_cont(values, fraction):
    """Linear interpolation between the closest ranks, as Postgres' percentile_cont."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def expected_status_counts(rows, key):
    table = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for row in rows:
        table[key(row)][row.status] += 1
    return dict(table)


def expected_rates(rows):
    completed = sum(r.status == "completed" for r in rows)
    failed = sum(r.status == "failed" for r in rows)
    decided = completed + failed
    return {
        "completed": completed,
        "failed": failed,
        "success_rate": completed / decided if decided else None,
        "failure_rate": failed / decided if decided else None,
    }


def expected_retries(rows):
    total = sum(r.retry_count for r in rows)
    return {
        "tasks": len(rows),
        "tasks_retried": sum(r.retry_count > 0 for r in rows),
        "total_retries": total,
        "mean_retries": total / len(rows),
    }


def expected_durations(rows):
    seconds = [r.duration for r in rows if r.status == "completed"]
    return {
        "count": len(seconds),
        "mean_seconds": sum(seconds) / len(seconds),
        "p50_seconds": percentile_cont(seconds, 0.5),
        "p95_seconds": percentile_cont(seconds, 0.95),
    }


def grouped(rows, stats, *, only=lambda rows: True):
    result = {"overall": stats(rows), "by_type": {}, "by_queue": {}}
    for name, key in (("by_type", "task_type"), ("by_queue", "queue")):
        groups = defaultdict(list)
        for row in rows:
            groups[getattr(row, key)].append(row)
        result[name] = {k: stats(v) for k, v in groups.items() if only(v)}
    return result


def expected_throughput(rows, now, *, unit, size):
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    end = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        end = end.replace(hour=0)
    first = end - step * (size - 1)
    series = {"overall": [0] * size, "by_type": {}, "by_queue": {}}
    for row in rows:
        series["by_type"].setdefault(row.task_type, [0] * size)
        series["by_queue"].setdefault(row.queue, [0] * size)
    for row in rows:
        if row.completed_at is None or row.completed_at < first:
            continue
        slot = int((row.completed_at - first) / step)
        if slot < size:
            series["overall"][slot] += 1
            series["by_type"][row.task_type][slot] += 1
            series["by_queue"][row.queue][slot] += 1
    return series


def expected_top_errors(rows):
    counts = Counter(r.error for r in rows if r.status == "failed")
    last = {}
    for r in rows:
        if r.status == "failed":
            last[r.error] = max(last.get(r.error, r.completed_at), r.completed_at)
    ranked = sorted(counts, key=lambda e: (-counts[e], -last[e].timestamp(), e))[:10]
    return [(e, counts[e], last[e]) for e in ranked]


def approx_tree(value):
    """pytest.approx for every float inside nested dicts and lists."""
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_tree(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    return value


def test_dashboard_equals_an_independent_computation_of_the_seeded_rows(db, tenant):
    now = datetime.now(UTC)
    rows = seed_history(db, tenant, now, random.Random(20261123))
    seed_history(db, f"other-{tenant}", now, random.Random(7), count=15)  # must not count
    job = running_job(db, tenant, "analytics.update_dashboard", {})
    rows.append(Seeded("analytics", "analytics", "running", 0))  # the dashboard's own task

    result = jobs.update_dashboard(db, job, now=now)

    assert result["total"] == len(rows)
    assert result["by_status"] == {s: sum(r.status == s for r in rows) for s in STATUSES}
    assert result["by_type"] == expected_status_counts(rows, lambda r: r.task_type)
    assert result["by_queue"] == expected_status_counts(rows, lambda r: r.queue)
    assert result["rates"] == approx_tree(grouped(rows, expected_rates))
    assert result["retries"] == approx_tree(grouped(rows, expected_retries))
    has_completed = lambda group: any(r.status == "completed" for r in group)  # noqa: E731
    durations = grouped(rows, expected_durations, only=has_completed)
    assert result["durations"] == approx_tree(durations)
    assert result["mean_duration_seconds"] == pytest.approx(durations["overall"]["mean_seconds"])
    assert result["mean_duration_seconds_by_type"] == approx_tree(
        {t: d["mean_seconds"] for t, d in durations["by_type"].items()}
    )
    for unit, size, name in (("hour", 24, "hourly"), ("day", 30, "daily")):
        got = result["throughput"][name]
        assert len(got["buckets"]) == size
        assert {k: got[k] for k in ("overall", "by_type", "by_queue")} == expected_throughput(
            rows, now, unit=unit, size=size
        )
    assert [
        (e["error_message"], e["count"], datetime.fromisoformat(e["last_seen"]))
        for e in result["top_errors"]
    ] == expected_top_errors(rows)
    assert len(json.dumps(result, allow_nan=False)) < 20_000
    assert snapshots.latest(db, tenant, "dashboard") == result


@pytest.mark.parametrize("session_zone", ["UTC", "Asia/Tokyo", "America/St_Johns"])
def test_throughput_buckets_are_utc_hours_and_days_ending_now(
    infra, db, tenant, monkeypatch, session_zone
):
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    in_hour = now.replace(minute=5)
    seed(
        db, tenant, status="completed", created_at=in_hour, started_at=in_hour, completed_at=in_hour
    )
    edge = now - timedelta(hours=23, minutes=30)  # 11:00 the day before: the first hour bucket
    seed(db, tenant, status="failed", created_at=edge, started_at=edge, completed_at=edge)
    too_old = now - timedelta(hours=23, minutes=31)  # 10:59 the day before: outside
    seed(db, tenant, status="cancelled", created_at=too_old, completed_at=too_old)
    job = running_job(db, tenant, "analytics.update_dashboard", {})
    monkeypatch.setenv("PGTZ", session_zone)  # libpq sets the session TimeZone from it
    zoned = Database(infra.database_url, max_size=1)
    try:
        throughput = jobs.update_dashboard(zoned, job, now=now)["throughput"]
    finally:
        zoned.close()
    hourly, daily = throughput["hourly"], throughput["daily"]

    assert hourly["buckets"][0] == "2026-11-22T11:00:00Z"
    assert hourly["buckets"][-1] == "2026-11-23T10:00:00Z"
    assert hourly["overall"] == [1] + [0] * 22 + [1]
    assert (daily["buckets"][0], daily["buckets"][-1]) == ("2026-10-25", "2026-11-23")
    assert daily["overall"][-2:] == [2, 1]


def test_a_tenant_with_no_finished_tasks_gets_nulls_not_errors(db, tenant):
    job = running_job(db, tenant, "analytics.update_dashboard", {})
    result = jobs.update_dashboard(db, job)
    assert result["total"] == 1
    assert result["by_type"] == {"analytics": {**dict.fromkeys(STATUSES, 0), "running": 1}}
    assert result["mean_duration_seconds"] is None
    assert result["rates"]["overall"]["success_rate"] is None
    assert result["durations"]["overall"] == {
        "count": 0,
        "mean_seconds": None,
        "p50_seconds": None,
        "p95_seconds": None,
    }
    assert result["top_errors"] == []
    assert sum(result["throughput"]["daily"]["overall"]) == 0
