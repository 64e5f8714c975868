"""The pandas finishing of the dashboard, trends and failure breakdown, on hand-made SQL rows."""

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from offload_analytics_worker import dashboard, failures, trends

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def count_row(queue, task_type, status, n, retried=0, retries=0):
    return {
        "queue": queue,
        "task_type": task_type,
        "status": status,
        "n": n,
        "retried": retried,
        "retries": retries,
    }


def rows(**kw):
    base = {"counts": [], "durations": [], "hourly": [], "daily": [], "top_errors": []}
    return dashboard.DashboardRows(**(base | kw))


def test_an_empty_dashboard_is_complete_zero_filled_and_json_able():
    result = dashboard.summarize(rows(), NOW)
    assert result["total"] == 0
    assert result["by_status"] == dict.fromkeys(
        ["pending", "running", "completed", "failed", "cancelled"], 0
    )
    assert (result["by_type"], result["by_queue"], result["top_errors"]) == ({}, {}, [])
    assert result["rates"]["overall"]["success_rate"] is None
    assert result["retries"]["overall"]["mean_retries"] is None
    assert result["mean_duration_seconds"] is None
    assert result["throughput"]["hourly"]["overall"] == [0] * 24
    assert result["throughput"]["daily"]["overall"] == [0] * 30
    json.dumps(result, allow_nan=False)


def test_counts_rates_and_retries_add_up_per_type_and_per_queue():
    result = dashboard.summarize(
        rows(
            counts=[
                count_row("analytics", "analytics", "completed", 3, retried=1, retries=2),
                count_row("analytics", "cleanup", "failed", 1, retried=1, retries=3),
                count_row("analytics", "cleanup", "cancelled", 4),
                count_row("email", "email", "completed", 1),
            ]
        ),
        NOW,
    )
    assert result["total"] == 9
    assert result["by_queue"]["analytics"] == {
        "pending": 0,
        "running": 0,
        "completed": 3,
        "failed": 1,
        "cancelled": 4,
    }
    assert set(result["by_type"]) == {"analytics", "cleanup", "email"}
    # cancelled tasks are neither successes nor failures
    assert result["rates"]["by_queue"]["analytics"]["success_rate"] == pytest.approx(0.75)
    assert result["rates"]["by_type"]["cleanup"]["failure_rate"] == 1.0
    assert result["rates"]["overall"]["success_rate"] == pytest.approx(0.8)
    assert result["retries"]["overall"] == {
        "tasks": 9,
        "tasks_retried": 2,
        "total_retries": 5,
        "mean_retries": pytest.approx(5 / 9),
    }


def test_duration_rows_land_in_their_scope():
    def duration(scope, key, n, mean):
        return {
            "scope": scope,
            "key": key,
            "n": n,
            "mean_seconds": mean,
            "p50_seconds": mean / 2,
            "p95_seconds": mean * 2,
        }

    result = dashboard.summarize(
        rows(
            counts=[count_row("email", "email", "completed", 2)],
            durations=[
                duration("overall", None, 2, 4.0),
                duration("type", "email", 2, 4.0),
                duration("queue", "email", 2, 4.0),
            ],
        ),
        NOW,
    )
    assert result["durations"]["by_queue"]["email"] == {
        "count": 2,
        "mean_seconds": 4.0,
        "p50_seconds": 2.0,
        "p95_seconds": 8.0,
    }
    assert result["mean_duration_seconds"] == 4.0
    assert result["mean_duration_seconds_by_type"] == {"email": 4.0}


def test_throughput_counts_are_aligned_with_their_bucket_labels():
    hour = datetime(2026, 11, 23, 9)  # naive UTC, as Postgres returns date_trunc of a timestamp
    result = dashboard.summarize(
        rows(
            counts=[count_row("email", "email", "completed", 5)],
            hourly=[
                {"bucket": hour, "queue": "email", "task_type": "email", "n": 2},
                {
                    "bucket": datetime(2026, 11, 22, 11),
                    "queue": "email",
                    "task_type": "email",
                    "n": 3,
                },
            ],
            daily=[
                {"bucket": datetime(2026, 11, 23), "queue": "email", "task_type": "email", "n": 5}
            ],
        ),
        NOW,
    )
    hourly = result["throughput"]["hourly"]
    assert hourly["buckets"][-2:] == ["2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z"]
    assert hourly["overall"][0] == 3
    assert hourly["overall"][-2:] == [2, 0]
    assert hourly["by_type"]["email"] == hourly["by_queue"]["email"] == hourly["overall"]
    assert result["throughput"]["daily"]["overall"][-1] == 5


def test_a_days_mean_duration_is_weighted_by_tasks_not_a_mean_of_type_means():
    day = date(2026, 3, 10)
    finished = [
        {
            "day": day,
            "task_type": "email",
            "status": "completed",
            "n": 3,
            "duration_sum": 6.0,
            "duration_n": 3,
        },
        {
            "day": day,
            "task_type": "report",
            "status": "completed",
            "n": 1,
            "duration_sum": 10.0,
            "duration_n": 1,
        },
        {
            "day": day,
            "task_type": "report",
            "status": "failed",
            "n": 2,
            "duration_sum": 0.0,
            "duration_n": 0,
        },
    ]
    result = trends.summarize([], finished, day, date(2026, 3, 11))
    first, second = result["days"]
    assert first["mean_duration_seconds"] == pytest.approx(16 / 4)
    assert first["by_type"]["email"]["mean_duration_seconds"] == pytest.approx(2.0)
    assert (first["completed"], first["failed"]) == (4, 2)
    assert second == {
        "date": "2026-03-11",
        "created": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "mean_duration_seconds": None,
        "by_type": {
            t: {
                "created": 0,
                "completed": 0,
                "failed": 0,
                "cancelled": 0,
                "mean_duration_seconds": None,
            }
            for t in ("email", "report")
        },
    }
    assert result["totals"]["mean_duration_seconds"] == pytest.approx(4.0)


def test_created_only_days_still_get_every_count():
    result = trends.summarize(
        [{"day": date(2026, 3, 10), "task_type": "email", "n": 2}],
        [],
        date(2026, 3, 10),
        date(2026, 3, 10),
    )
    assert result["days"][0]["by_type"]["email"] == {
        "created": 2,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "mean_duration_seconds": None,
    }


def failure(task_name, error_class, n, when, message=None):
    return {
        "task_type": task_name.split(".")[0],
        "task_name": task_name,
        "error_class": error_class,
        "n": n,
        "latest_task_id": uuid.uuid4(),
        "latest_message": message or f"{error_class}: something",
        "latest_at": when,
    }


def test_failures_by_class_sum_across_tasks_and_show_the_newest_example():
    newest = datetime(2026, 3, 12, 8, tzinfo=UTC)
    result = failures.summarize(
        [
            failure(
                "email.send_notification", "TimeoutError", 2, datetime(2026, 3, 10, tzinfo=UTC)
            ),
            failure("reports.generate_excel", "TimeoutError", 1, newest, "TimeoutError: db"),
            failure("reports.generate_excel", "ValueError", 3, datetime(2026, 3, 11, tzinfo=UTC)),
            failure("reports.generate_excel", "KeyError", 3, datetime(2026, 3, 11, tzinfo=UTC)),
        ],
        date(2026, 3, 10),
        date(2026, 3, 12),
    )
    assert result["total"] == 9
    assert [(c["error_class"], c["count"]) for c in result["by_error_class"]] == [
        ("KeyError", 3),
        ("TimeoutError", 3),
        ("ValueError", 3),
    ]
    timeout = result["by_error_class"][1]["latest"]
    assert (timeout["task_name"], timeout["error_message"]) == (
        "reports.generate_excel",
        "TimeoutError: db",
    )
    assert timeout["failed_at"] == "2026-03-12T08:00:00+00:00"
    assert [(t["task_name"], t["count"]) for t in result["by_task"]] == [
        ("reports.generate_excel", 7),
        ("email.send_notification", 2),
    ]


def test_no_failures_is_an_empty_breakdown():
    result = failures.summarize([], date(2026, 3, 10), date(2026, 3, 10))
    assert (result["total"], result["by_error_class"], result["by_task"]) == (0, [], [])


def test_a_failure_without_a_message_has_a_null_example_message():
    row = failure("email.send_notification", "unknown", 1, datetime(2026, 3, 10, tzinfo=UTC))
    result = failures.summarize(
        [row | {"latest_message": None}], date(2026, 3, 10), date(2026, 3, 10)
    )
    assert result["by_error_class"][0]["latest"]["error_message"] is None
    json.dumps(result, allow_nan=False)
