"""The record of each task's delivered email (offload.email_deliveries): one delivery per task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from offload_shared.db import Database, Json, Queries

PACKAGE = "offload_email_worker"
query = Queries(PACKAGE)


@dataclass(frozen=True)
class Delivery:
    message_id: str
    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        """The task's result: message_id and accepted, and refused when the server refused any."""
        result: dict[str, Any] = {"message_id": self.message_id, "accepted": self.accepted}
        if self.refused:
            result["refused"] = self.refused
        return result


def find(db: Database, task_id: uuid.UUID) -> Delivery | None:
    """The delivery already made for this task, if any."""
    row = db.fetch_one(query("delivery_for_task"), {"task_id": task_id})
    return Delivery(row["message_id"], list(row["accepted"]), dict(row["refused"])) if row else None


def record(db: Database, task_id: uuid.UUID, delivery: Delivery) -> None:
    """Keep the delivery; a row already there (an earlier attempt's) is left as it is."""
    with db.connection() as conn:
        conn.execute(
            query("record_delivery"),
            {
                "task_id": task_id,
                "message_id": delivery.message_id,
                "accepted": Json(delivery.accepted),
                "refused": Json(delivery.refused),
            },
        )
