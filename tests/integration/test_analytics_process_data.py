"""analytics.process_data against real Postgres: task_trends and failure_breakdown for a range."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from offload_analytics_worker import jobs
from offload_shared import snapshots
from offload_shared.db import Database
from tests.seeding import running_job, seed

START, END = date(2026, 3, 10), date(2026, 3, 12)  # three UTC days, both ends included


def at(day, hour=12, minute=0, second=0, micro=0):
    return datetime(2026, 3, day, hour, minute, second, micro, tzinfo=UTC)


def process(db, tenant, data_type, start=START, end=END):
    params = {
        "data_type": data_type,
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
    }
    return jobs.process_data(db, running_job(db, tenant, "analytics.process_data", params))


def test_task_trends_counts_each_utc_day_of_the_range_by_type(db, tenant):
    def finished(name, status, day, seconds, **kw):
        done = at(day, **kw)
        seed(
            db,
            tenant,
            name,
            status=status,
            created_at=at(day - 1),
            started_at=done - timedelta(seconds=seconds),
            completed_at=done,
        )

    # Range edges: the first and last instants of the range count, their neighbours do not.
    seed(db, tenant, status="pending", created_at=at(10, 0, 0, 0, 0))
    seed(db, tenant, status="pending", created_at=at(12, 23, 59, 59, 999_999))
    seed(db, tenant, status="pending", created_at=at(9, 23, 59, 59, 999_999))
    seed(db, tenant, status="pending", created_at=at(13, 0, 0, 0, 0))
    seed(db, tenant, "reports.generate_excel", status="running", created_at=at(11))
    finished("email.send_notification", "completed", 10, 2.0)
    finished("email.send_notification", "completed", 10, 4.0)
    finished("reports.generate_excel", "completed", 10, 12.0)
    finished("reports.generate_excel", "failed", 11, 3.0)
    finished("email.send_notification", "cancelled", 12, 1.0, hour=23, minute=59)
    finished("email.send_notification", "completed", 13, 5.0, hour=0)  # the day after: out
    seed(db, f"other-{tenant}", status="pending", created_at=at(11))  # another tenant: out

    result = process(db, tenant, "task_trends")

    days = {d["date"]: d for d in result["days"]}
    assert list(days) == ["2026-03-10", "2026-03-11", "2026-03-12"]
    # created: a pending one each first and last day, the running one on the 11th; each
    # finished task was created the day before it finished.
    assert [d["created"] for d in result["days"]] == [1 + 1, 1 + 1, 1 + 1]
    first = days["2026-03-10"]
    assert (first["completed"], first["failed"], first["cancelled"]) == (3, 0, 0)
    assert first["mean_duration_seconds"] == pytest.approx((2 + 4 + 12) / 3)
    assert first["by_type"]["email"]["mean_duration_seconds"] == pytest.approx(3.0)
    assert first["by_type"]["report"] == {
        "created": 1,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "mean_duration_seconds": pytest.approx(12.0),
    }
    second = days["2026-03-11"]
    assert (second["completed"], second["failed"], second["mean_duration_seconds"]) == (0, 1, None)
    assert second["by_type"]["report"]["created"] == 1  # the running one, created on the 11th
    assert days["2026-03-12"]["cancelled"] == 1
    totals = result["totals"]
    assert (totals["created"], totals["completed"], totals["failed"], totals["cancelled"]) == (
        6,
        3,
        1,
        1,
    )
    assert (totals["by_type"]["email"]["created"], totals["by_type"]["report"]["created"]) == (4, 2)
    assert snapshots.latest(db, tenant, "task_trends") == result
    json.dumps(result, allow_nan=False)


def test_task_trends_lists_every_day_even_without_tasks(db, tenant):
    result = process(db, tenant, "task_trends", date(2026, 2, 27), date(2026, 3, 2))
    assert [d["date"] for d in result["days"]] == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
        "2026-03-02",
    ]
    assert all(d["created"] == 0 and d["by_type"] == {} for d in result["days"])


def test_failure_breakdown_groups_failures_by_class_and_task_with_the_latest_example(db, tenant):
    def failed(name, error, when):
        return seed(
            db,
            tenant,
            name,
            status="failed",
            created_at=when - timedelta(minutes=1),
            started_at=when,
            completed_at=when,
            error=error,
        )

    failed("email.send_notification", "TimeoutError: smtp timed out", at(10))
    latest_timeout = failed("email.send_notification", "TimeoutError: again", at(12, 23, 59))
    failed("reports.generate_excel", "TimeoutError: db", at(11))
    failed("reports.generate_excel", "ValueError: bad: cell A1", at(10, 0, 0))
    failed("reports.generate_excel", "no colon at all", at(11))
    failed("reports.generate_excel", "   : empty class", at(11, 12))
    no_message = failed("reports.generate_excel", None, at(11, 13))
    failed("email.send_notification", "TimeoutError: before", at(9, 23, 59))  # out of range
    failed("email.send_notification", "TimeoutError: after", at(13, 0, 0))  # out of range
    seed(db, tenant, status="completed", created_at=at(11), started_at=at(11), completed_at=at(11))
    seed(
        db,
        f"other-{tenant}",
        status="failed",
        created_at=at(11),
        completed_at=at(11),
        error="TimeoutError: theirs",
    )

    result = process(db, tenant, "failure_breakdown")

    assert result["total"] == 7
    by_class = {c["error_class"]: c for c in result["by_error_class"]}
    assert {k: c["count"] for k, c in by_class.items()} == {
        "TimeoutError": 3,
        "ValueError": 1,
        "no colon at all": 1,
        "unknown": 2,
    }
    assert result["by_error_class"][0]["error_class"] == "TimeoutError"  # most failures first
    assert by_class["unknown"]["latest"]["task_id"] == str(no_message)
    assert by_class["unknown"]["latest"]["error_message"] is None
    json.dumps(result, allow_nan=False)
    assert by_class["TimeoutError"]["latest"] == {
        "task_id": str(latest_timeout),
        "task_name": "email.send_notification",
        "error_message": "TimeoutError: again",
        "failed_at": at(12, 23, 59).isoformat(),
    }
    by_task = {t["task_name"]: t for t in result["by_task"]}
    assert by_task["reports.generate_excel"]["count"] == 5
    assert [
        (c["error_class"], c["count"]) for c in by_task["reports.generate_excel"]["error_classes"]
    ] == [("unknown", 2), ("TimeoutError", 1), ("ValueError", 1), ("no colon at all", 1)]
    assert by_task["email.send_notification"]["error_classes"][0]["latest"]["error_message"] == (
        "TimeoutError: again"
    )
    assert snapshots.latest(db, tenant, "failure_breakdown") == result


def test_days_are_utc_days_whatever_the_session_time_zone(infra, db, tenant, monkeypatch):
    late = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # already March 11th in Tokyo
    seed(db, tenant, status="completed", created_at=late, started_at=late, completed_at=late)
    seed(db, tenant, status="failed", created_at=late, completed_at=late, error="KeyError: k")
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")  # libpq sets the session TimeZone from it
    tokyo = Database(infra.database_url, max_size=1)
    try:
        assert tokyo.fetch_one("SHOW TimeZone") == {"TimeZone": "Asia/Tokyo"}
        trends = process(tokyo, tenant, "task_trends", date(2026, 3, 10), date(2026, 3, 11))
        breakdown = process(
            tokyo, tenant, "failure_breakdown", date(2026, 3, 10), date(2026, 3, 10)
        )
    finally:
        tokyo.close()
    assert [(d["date"], d["created"], d["completed"]) for d in trends["days"]] == [
        ("2026-03-10", 2, 1),
        ("2026-03-11", 0, 0),
    ]
    assert breakdown["total"] == 1
    assert breakdown["by_error_class"][0]["latest"]["failed_at"] == "2026-03-10T20:00:00+00:00"
