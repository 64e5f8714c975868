"""failure_breakdown: the tasks that failed in a date range (UTC days of completed_at, both ends
included), by error class and by task, each group with its count and most recent example.

The error class is the text before the first ':' of the error message: Offload records errors
as "ExceptionType: text", so it is the exception type ("unknown" when there is no message).
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

import pandas as pd

from offload_analytics_worker.queries import fetch_all, read_snapshot
from offload_analytics_worker.trends import utc_bounds
from offload_shared.db import Database

MAX_CLASS_CHARS = 100
MAX_MESSAGE_CHARS = 500
Row = dict[str, Any]
COLUMNS = [
    "task_type",
    "task_name",
    "error_class",
    "n",
    "latest_task_id",
    "latest_message",
    "latest_at",
]


def compute(db: Database, tenant: str, start: date, end: date) -> dict[str, Any]:
    lower, upper = utc_bounds(start, end)
    with read_snapshot(db) as conn:
        rows = fetch_all(
            conn,
            "failure_groups",
            {
                "tenant": tenant,
                "start": lower,
                "end": upper,
                "max_class_chars": MAX_CLASS_CHARS,
                "max_message_chars": MAX_MESSAGE_CHARS,
            },
        )
    return summarize(rows, start, end)


def summarize(rows: list[Row], start: date, end: date) -> dict[str, Any]:
    """Pure: rows of failure_groups (one per task type, name and error class) -> the breakdown."""
    groups = pd.DataFrame(rows, columns=COLUMNS).astype({"n": "int64"})
    groups = groups.sort_values(["latest_at", "latest_task_id"], ascending=[False, True])
    by_class = [
        {
            "error_class": str(error_class),
            "count": int(part["n"].sum()),
            "latest": _example(part.iloc[0]),
        }
        for error_class, part in groups.groupby("error_class")
    ]
    by_task = [
        {
            "task_type": str(task_type),
            "task_name": str(task_name),
            "count": int(part["n"].sum()),
            "error_classes": _ranked(
                [
                    {"error_class": str(row["error_class"]), "count": int(row["n"])}
                    | {"latest": _example(row)}
                    for _, row in part.iterrows()
                ],
                "error_class",
            ),
        }
        for (task_type, task_name), part in groups.groupby(["task_type", "task_name"])
    ]
    return {
        "data_type": "failure_breakdown",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "total": int(groups["n"].sum()),
        "by_error_class": _ranked(by_class, "error_class"),
        "by_task": _ranked(by_task, "task_name"),
    }


def _example(row: pd.Series) -> dict[str, Any]:
    """A group's most recent failure (rows are sorted newest first, so a group's first row)."""
    return {
        "task_id": str(row["latest_task_id"]),
        "task_name": str(row["task_name"]),
        "error_message": None if pd.isna(row["latest_message"]) else str(row["latest_message"]),
        "failed_at": pd.Timestamp(row["latest_at"]).tz_convert(UTC).isoformat(),
    }


def _ranked(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Most failures first; ties by name."""
    return sorted(items, key=lambda item: (-item["count"], item[name]))
