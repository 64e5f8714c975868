"""The dashboard: task counts by status and type, and mean run time, aggregated in SQL."""

from __future__ import annotations

from typing import Any

import pandas as pd

from offload_shared.db import Database
from offload_shared.models import TaskStatus
from offload_shared.sql import query

PACKAGE = "offload_analytics_worker"


def compute(db: Database, tenant: str) -> dict[str, Any]:
    counts = pd.DataFrame(
        db.fetch_all(query("status_counts", PACKAGE), {"tenant": tenant}),
        columns=["task_type", "status", "n"],
    )
    durations = db.fetch_all(query("mean_durations", PACKAGE), {"tenant": tenant})
    by_status = {s.value: 0 for s in TaskStatus}
    by_status.update({k: int(v) for k, v in counts.groupby("status")["n"].sum().items()})
    by_type = {
        str(task_type): {s.value: 0 for s in TaskStatus}
        | {str(st): int(n) for st, n in zip(group["status"], group["n"], strict=True)}
        for task_type, group in counts.groupby("task_type")
    }
    total_completed = sum(int(r["n"]) for r in durations)
    mean_all = (
        sum(float(r["mean_seconds"]) * int(r["n"]) for r in durations) / total_completed
        if total_completed
        else None
    )
    return {
        "total": int(counts["n"].sum()) if len(counts) else 0,
        "by_status": by_status,
        "by_type": by_type,
        "mean_duration_seconds": mean_all,
        "mean_duration_seconds_by_type": {
            r["task_type"]: float(r["mean_seconds"]) for r in durations
        },
    }
