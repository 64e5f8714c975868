"""Dramatiq actors for the `reports` queue. Thin: the task's context goes to its job."""

from __future__ import annotations

from typing import Any

from offload_report_worker import jobs
from offload_shared.context import TaskContext
from offload_shared.worker import task_actor


@task_actor("reports.generate_excel")
def generate_excel(ctx: TaskContext) -> dict[str, Any]:
    return jobs.excel_report(ctx)


@task_actor("reports.generate_pdf")
def generate_pdf(ctx: TaskContext) -> dict[str, Any]:
    return jobs.pdf_report(ctx)
