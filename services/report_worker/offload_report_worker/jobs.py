"""The two report jobs, given the task's TaskContext (tests build one of their own).

A job builds its file completely, checks once more for a cancel request, and only then stores
it: a report that fails or is cancelled stores nothing. The Excel file is built in a temporary
directory and streamed into the artifact store from disk.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from offload_report_worker.excel import Summary, WorkbookWriter
from offload_report_worker.pdf import build_pdf
from offload_report_worker.sources import CHUNK_ROWS, open_rows
from offload_shared import artifacts
from offload_shared.context import TaskContext
from offload_shared.errors import PermanentTaskError
from offload_shared.models import Artifact, Task

MAX_COLUMNS = 16_384  # Excel's limit; xlsxwriter would silently drop the cells beyond it
READ_SHARE = 95  # percent of the progress bar given to reading and writing rows
UNKNOWN_TOTAL_HALFWAY = 100_000  # rows: with no row count, progress is half-way here
BEFORE_STORING = 97


def excel_report(ctx: TaskContext, *, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    task, params = ctx.task, ctx.params
    with tempfile.TemporaryDirectory(prefix="offload-report-") as tmp:
        path = Path(tmp) / "report.xlsx"
        with ExitStack() as stack:
            with open_rows(
                params, tenant=task.tenant, db=ctx.db, settings=ctx.settings, chunk_rows=chunk_rows
            ) as rows:
                if len(rows.columns) > MAX_COLUMNS:
                    raise PermanentTaskError(
                        f"{len(rows.columns)} columns; an Excel sheet holds at most {MAX_COLUMNS}"
                    )
                book = stack.enter_context(WorkbookWriter(path, rows.columns, tmpdir=Path(tmp)))
                for chunk in rows.chunks:
                    book.write(chunk)
                    ctx.checkpoint(progress_percent(book.rows, rows.total))
            # The source is closed before the (slower) assembling of the file.
            book.finish(
                Summary(
                    report_name=params["report_name"],
                    source=rows.label,
                    parameters=rows.parameters,
                    task_id=str(task.id),
                )
            )
        ctx.checkpoint(BEFORE_STORING)
        with path.open("rb") as content:
            artifact = ctx.artifacts.save(
                task,
                filename=f"{params['report_name']}.xlsx",
                content_type=artifacts.XLSX,
                content=content,
            )
    return artifact_result(task, artifact, rows=book.rows)


def pdf_report(ctx: TaskContext) -> dict[str, Any]:
    task = ctx.task
    params = task.params
    table = params.get("table")
    content = build_pdf(
        record_id=params["record_id"],
        title=params["title"],
        fields=params["fields"],
        table=table,
        generated_at=dt.datetime.now(dt.UTC),
    )
    ctx.checkpoint(BEFORE_STORING)
    artifact = ctx.artifacts.save(
        task,
        filename=f"{params['record_id']}.pdf",
        content_type=artifacts.PDF,
        content=content,
    )
    return artifact_result(task, artifact, rows=len(table["rows"]) if table else 0)


def progress_percent(done: int, total: int | None) -> int:
    """Progress after `done` rows: proportional when the total is known, else approaching 95."""
    if total:
        share = done * READ_SHARE // total
    else:
        share = READ_SHARE * done // (done + UNKNOWN_TOTAL_HALFWAY)
    return max(1, min(READ_SHARE, share))


def artifact_result(task: Task, artifact: Artifact, *, rows: int) -> dict[str, Any]:
    return {
        "artifact_id": str(artifact.id),
        "filename": artifact.filename,
        "size_bytes": artifact.size_bytes,
        "sha256": artifact.sha256,
        "rows": rows,
        "download": f"/api/tasks/{task.id}/artifact",
    }
