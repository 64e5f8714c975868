"""Dramatiq actors for the `reports` queue. Thin: build the file, store it, return its reference."""

from __future__ import annotations

from typing import Any

from offload_report_worker.excel import build_workbook
from offload_shared import artifacts
from offload_shared.models import Task
from offload_shared.worker import artifact_store, task_actor


@task_actor("reports.generate_excel")
def generate_excel(task: Task) -> dict[str, Any]:
    params = task.params
    content = build_workbook(params["columns"], params["rows"])
    artifact = artifact_store().save(
        task,
        filename=f"{params['report_name']}.xlsx",
        content_type=artifacts.XLSX,
        content=content,
    )
    return {
        "artifact_id": str(artifact.id),
        "filename": artifact.filename,
        "size_bytes": artifact.size_bytes,
        "sha256": artifact.sha256,
        "rows": len(params["rows"]),
        "download": f"/api/tasks/{task.id}/artifact",
    }
