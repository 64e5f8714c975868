"""Artifacts: the files tasks produce (reports), behind one small interface.

`PostgresArtifacts` keeps them in Postgres: a metadata row (size, sha256, content type, expiry)
and the bytes in 1 MiB chunks, all written in one transaction, so an artifact is stored whole
or not at all, and read back chunk by chunk so neither side holds a whole file in memory.
An S3-compatible store can implement the same protocol later.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Protocol

from offload_shared.db import Database
from offload_shared.models import Artifact, Task
from offload_shared.sql import query

__all__ = [
    "PDF",
    "XLSX",
    "ArtifactStore",
    "PostgresArtifacts",
]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
CHUNK_BYTES = 1_048_576


class ArtifactStore(Protocol):
    def save(
        self, task: Task, *, filename: str, content_type: str, content: BinaryIO | bytes
    ) -> Artifact: ...

    def find(self, tenant: str, task_id: uuid.UUID) -> Artifact | None: ...

    def read(self, artifact: Artifact) -> Iterator[bytes]: ...

    def delete_expired(self, *, limit: int) -> int: ...


class PostgresArtifacts:
    def __init__(self, db: Database, *, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    def save(
        self, task: Task, *, filename: str, content_type: str, content: BinaryIO | bytes
    ) -> Artifact:
        stream = _chunks(content)
        artifact_id = uuid.uuid4()
        digest = hashlib.sha256()
        size = count = 0
        with self.db.transaction() as conn:
            for count, chunk in enumerate(stream, start=1):
                digest.update(chunk)
                size += len(chunk)
                conn.execute(
                    query("insert_artifact_chunk"),
                    {"artifact_id": artifact_id, "seq": count - 1, "data": chunk},
                    prepare=False,
                )
            row = conn.execute(
                query("insert_artifact"),
                {
                    "id": artifact_id,
                    "task_id": task.id,
                    "tenant": task.tenant,
                    "filename": filename,
                    "content_type": content_type,
                    "size_bytes": size,
                    "sha256": digest.hexdigest(),
                    "chunks": count,
                    "expires_at": datetime.now(UTC) + self.ttl,
                },
            ).fetchone()
        assert row is not None
        return Artifact.from_row(row)

    def find(self, tenant: str, task_id: uuid.UUID) -> Artifact | None:
        row = self.db.fetch_one(query("artifact_for_task"), {"task_id": task_id, "tenant": tenant})
        return Artifact.from_row(row) if row else None

    def read(self, artifact: Artifact) -> Iterator[bytes]:
        for seq in range(artifact.chunks):
            row = self.db.fetch_one(
                query("artifact_chunk"), {"artifact_id": artifact.id, "seq": seq}
            )
            if row is None:  # deleted (expired) while being read
                return
            yield bytes(row["data"])

    def delete_expired(self, *, limit: int) -> int:
        """Delete up to `limit` expired artifacts of every tenant (operator housekeeping)."""
        rows = self.db.fetch_all(query("delete_expired_artifacts"), {"limit": limit})
        return len(rows)


def _chunks(content: BinaryIO | bytes) -> Iterator[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
        for start in range(0, max(len(data), 1), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]
        return
    while chunk := content.read(CHUNK_BYTES):
        yield chunk
