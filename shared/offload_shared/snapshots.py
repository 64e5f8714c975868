"""Analytics snapshots: the latest computed view of each kind, per tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from offload_shared.db import Database, Json
from offload_shared.models import FromRow
from offload_shared.sql import query

__all__ = [
    "KINDS",
    "Snapshot",
    "latest_snapshot",
    "save",
]

KINDS = ("dashboard", "task_trends", "failure_breakdown")


@dataclass(frozen=True)
class Snapshot(FromRow):
    kind: str
    task_id: uuid.UUID | None
    created_at: datetime
    data: dict[str, Any]


def save(
    db: Database, tenant: str, kind: str, task_id: uuid.UUID | None, data: dict[str, Any]
) -> None:
    with db.connection() as conn:
        conn.execute(
            query("insert_snapshot"),
            {"tenant": tenant, "kind": kind, "task_id": task_id, "data": Json(data)},
        )


def latest_snapshot(db: Database, tenant: str, kind: str) -> Snapshot | None:
    row = db.fetch_one(query("latest_snapshot"), {"tenant": tenant, "kind": kind})
    return Snapshot.from_row(row) if row else None


def latest(db: Database, tenant: str, kind: str) -> dict[str, Any] | None:
    snapshot = latest_snapshot(db, tenant, kind)
    return snapshot.data if snapshot else None
