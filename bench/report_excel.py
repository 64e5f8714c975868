"""Benchmark: one `reports.generate_excel` job over a registered source of N rows x 10 columns.

    .venv/bin/python bench/report_excel.py [--rows N] [--chunk-rows N] [--store-in-postgres]

The source is a registered-source-style query over generate_series (ints, text, numeric, bool,
timestamptz, date, NULLs), run exactly as the worker runs it: its own READ ONLY connection to
DATABASE_URL (default: the local postgresql://localhost/offload), a server-side cursor, chunks
typed with pandas and written by xlsxwriter in constant_memory mode to a temporary file.

By default the finished file is streamed into a sink that counts and hashes it (so the bench
needs no migrated database and writes nothing). --store-in-postgres stores it in Offload's
artifact tables instead (the database must be migrated); the bench task and its artifact are
deleted afterwards. Prints wall time, rows/s, artifact size and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from offload_report_worker import jobs
from offload_report_worker.sources import CHUNK_ROWS
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.catalog import get_spec
from offload_shared.context import TaskContext
from offload_shared.db import Database
from offload_shared.enqueue import new_task
from offload_shared.models import Task, TaskStatus
from offload_shared.settings import Settings
from offload_shared.store import TaskStore

SOURCE = '''
# generate_series in the select list streams its rows; in FROM it would be materialised first.
[bench_series]
description = "generate_series benchmark rows"
sql = """
SELECT g AS id,
       'customer ' || g AS name,
       (g %% 1000)::int AS bucket,
       (g * 1.25)::numeric(14, 2) AS amount,
       g %% 2 = 0 AS even,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' AS created_at,
       date '2026-01-01' + (g %% 365) AS day,
       md5(g::text) AS hash,
       CASE WHEN g %% 10 = 0 THEN NULL ELSE g * 0.5 END AS maybe,
       %(tenant)s AS tenant
FROM (SELECT generate_series(1, %(rows)s) AS g) AS series
"""
params = { rows = "integer" }
'''


class HashingSink:
    """An ArtifactStore that keeps nothing: it reads the content through, counting and hashing."""

    def save(
        self, task: Any, *, filename: str, content_type: str, content: BinaryIO | bytes
    ) -> Any:
        from offload_shared.models import Artifact

        digest, size, chunks = hashlib.sha256(), 0, 0
        for chunk in _chunks(content):
            digest.update(chunk)
            size += len(chunk)
            chunks += 1
        now = datetime.now(UTC)
        return Artifact(
            uuid.uuid4(), task.id, task.tenant, filename, content_type, size,
            digest.hexdigest(), chunks, now, None,
        )  # fmt: skip

    def find(self, tenant: str, task_id: uuid.UUID) -> None:
        return None

    def read(self, artifact: Any) -> Iterator[bytes]:
        return iter(())

    def delete_expired(self, *, limit: int) -> int:
        return 0


def _chunks(content: BinaryIO | bytes) -> Iterator[bytes]:
    if isinstance(content, bytes):
        yield content
        return
    while chunk := content.read(1_048_576):
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--store-in-postgres", action="store_true")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or "postgresql://localhost/offload"
    with tempfile.TemporaryDirectory(prefix="offload-bench-") as tmp:
        sources = Path(tmp) / "sources.toml"
        sources.write_text(SOURCE, encoding="utf-8")
        os.environ["OFFLOAD_REPORT_SOURCES"] = str(sources)
        run(database_url, args.rows, args.chunk_rows, store_in_postgres=args.store_in_postgres)


def run(database_url: str, rows: int, chunk_rows: int | None, *, store_in_postgres: bool) -> None:
    settings = Settings.from_env({**os.environ, "DATABASE_URL": database_url})
    spec = get_spec("reports.generate_excel")
    params = spec.load_params(
        {"report_name": "bench", "source": "bench_series", "source_params": {"rows": rows}}
    )
    db = Database(database_url, max_size=2)
    store: Any = HashingSink()
    if store_in_postgres:
        task = TaskStore(db).create(new_task(spec, "bench", params))
        store = PostgresArtifacts(db, ttl=timedelta(hours=1))
    else:
        now = datetime.now(UTC)
        task = Task(
            uuid.uuid4(), "bench", spec.name, spec.category, spec.queue, 5, TaskStatus.RUNNING,
            params, None, None, 0, 1, 0, 3, spec.time_limit_ms, now, None, now, None,
        )  # fmt: skip
    progress: list[int] = []
    context = TaskContext(
        task=task, db=db, settings=settings, artifacts=store, checkpoint=progress.append
    )
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    try:
        result = jobs.excel_report(context, chunk_rows=chunk_rows or CHUNK_ROWS)
    finally:
        if store_in_postgres:
            TaskStore(db).delete(task.id)
        db.close()
    elapsed = time.perf_counter() - started
    print(f"rows               {result['rows']:,} x 10 columns")
    print(f"chunk rows         {chunk_rows or CHUNK_ROWS:,}")
    print(f"stored in          {'Postgres (offload.artifacts)' if store_in_postgres else 'sink'}")
    print(f"wall time          {elapsed:,.1f} s")
    print(f"rows/s             {result['rows'] / elapsed:,.0f}")
    print(
        f"artifact size      {result['size_bytes'] / 2**20:,.1f} MiB ({result['size_bytes']:,} B)"
    )
    print(f"progress reports   {len(progress)} (last {progress[-1] if progress else '-'}%)")
    print(f"max RSS            {_max_rss_mib():,.0f} MiB (before the job: {rss_before:,.0f} MiB)")


def _max_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


if __name__ == "__main__":
    main()
