"""Artifacts: files tasks produce (reports), stored whole in Postgres with size and sha256."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from offload_shared.db import Database
from offload_shared.models import Artifact, Task
from offload_shared.sql import query

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def save(
    db: Database,
    task: Task,
    *,
    filename: str,
    content_type: str,
    content: bytes,
    expires_at: datetime | None = None,
) -> Artifact:
    """Store a file for a task in one statement: it is stored whole or not at all."""
    row = db.fetch_one(
        query("insert_artifact"),
        {
            "id": uuid.uuid4(),
            "task_id": task.id,
            "tenant": task.tenant,
            "filename": filename,
            "content_type": content_type,
            "size_bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
            "expires_at": expires_at,
        },
    )
    assert row is not None
    return Artifact.from_row(row)


def load_for_task(db: Database, tenant: str, task_id: uuid.UUID) -> tuple[Artifact, bytes] | None:
    """The newest unexpired artifact of a tenant's task, with its bytes."""
    row = db.fetch_one(query("artifact_for_task"), {"task_id": task_id, "tenant": tenant})
    if row is None:
        return None
    content = bytes(row.pop("content"))
    return Artifact.from_row(row), content
