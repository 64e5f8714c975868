"""Dramatiq actors for the `reports` queue. Thin: pass the worker's parts to a job."""

from __future__ import annotations

from typing import Any

from offload_report_worker import jobs
from offload_shared.middleware import current_db, report_progress
from offload_shared.models import Task
from offload_shared.worker import artifact_store, task_actor, worker_settings


def _context() -> jobs.JobContext:
    return jobs.JobContext(
        db=current_db(),
        artifacts=artifact_store(),
        settings=worker_settings(),
        progress=report_progress,
    )


@task_actor("reports.generate_excel")
def generate_excel(task: Task) -> dict[str, Any]:
    return jobs.excel_report(task, _context())


@task_actor("reports.generate_pdf")
def generate_pdf(task: Task) -> dict[str, Any]:
    return jobs.pdf_report(task, _context())
