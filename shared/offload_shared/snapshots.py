"""Analytics snapshots: the latest computed view of each kind, per tenant."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from offload_shared.db import Database
from offload_shared.sql import query


def save(db: Database, tenant: str, kind: str, task_id: uuid.UUID, data: dict[str, Any]) -> None:
    with db.connection() as conn:
        conn.execute(
            query("insert_snapshot"),
            {"tenant": tenant, "kind": kind, "task_id": task_id, "data": Jsonb(data)},
        )


def latest(db: Database, tenant: str, kind: str) -> dict[str, Any] | None:
    row = db.fetch_one(query("latest_snapshot"), {"tenant": tenant, "kind": kind})
    return row["data"] if row else None
