"""task_trends: per UTC day of a date range (both ends included), what happened to tasks.

For each day: tasks created (by created_at), completed / failed / cancelled (by completed_at),
and the mean run time of the tasks completed that day (completed_at - started_at of the last
attempt), overall and per task type. Every day of the range is listed, zero-filled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from offload_analytics_worker.queries import fetch_all, read_snapshot
from offload_shared.db import Database

COUNTS = ["created", "completed", "failed", "cancelled"]
Row = dict[str, Any]


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC): the inclusive range as instants."""
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(end + timedelta(days=1), time(), UTC),
    )


def compute(db: Database, tenant: str, start: date, end: date) -> dict[str, Any]:
    lower, upper = utc_bounds(start, end)
    key = {"tenant": tenant, "start": lower, "end": upper}
    with read_snapshot(db) as conn:
        created = fetch_all(conn, "created_per_day", key)
        finished = fetch_all(conn, "finished_per_day", key)
    return summarize(created, finished, start, end)


def summarize(created: list[Row], finished: list[Row], start: date, end: date) -> dict[str, Any]:
    """Pure: rows of created_per_day and finished_per_day -> the trends, every day listed."""
    table = _table(created, finished)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    types = sorted(table.index.get_level_values("task_type").unique())
    index = pd.MultiIndex.from_product([days, types], names=["day", "task_type"])
    table = table.reindex(index, fill_value=0)
    per_day = table.groupby(level="day").sum().reindex(days, fill_value=0)
    return {
        "data_type": "task_trends",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "days": [
            {"date": day.isoformat()}
            | _figures(per_day.loc[day])
            | {"by_type": {t: _figures(table.loc[(day, t)]) for t in types}}
            for day in days
        ],
        "totals": _figures(table.sum())
        | {"by_type": {t: _figures(part.sum()) for t, part in table.groupby(level="task_type")}},
    }


def _table(created: list[Row], finished: list[Row]) -> pd.DataFrame:
    """(day, task_type) -> created, completed, failed, cancelled, duration_sum, duration_n."""
    made = pd.DataFrame(created, columns=["day", "task_type", "n"]).assign(kind="created")
    ended = pd.DataFrame(
        finished, columns=["day", "task_type", "status", "n", "duration_sum", "duration_n"]
    ).rename(columns={"status": "kind"})
    counts = pd.concat([made, ended[["day", "task_type", "kind", "n"]]], ignore_index=True)
    columns = [*COUNTS, "duration_sum", "duration_n"]
    if counts.empty:
        empty = pd.MultiIndex.from_tuples([], names=["day", "task_type"])
        return pd.DataFrame(0, index=empty, columns=columns)
    wide = counts.pivot_table(
        index=["day", "task_type"], columns="kind", values="n", aggfunc="sum", fill_value=0
    )
    durations = ended.groupby(["day", "task_type"])[["duration_sum", "duration_n"]].sum()
    return wide.join(durations, how="left").fillna(0).reindex(columns=columns, fill_value=0)


def _figures(row: pd.Series) -> dict[str, Any]:
    n = int(row["duration_n"])
    return {c: int(row[c]) for c in COUNTS} | {
        "mean_duration_seconds": float(row["duration_sum"]) / n if n else None
    }
