"""The task catalog: every task Offload can run, declared once.

The API validates requests against it without importing worker code; each worker registers
actors for the entries on its own queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from offload_shared import params
from offload_shared.errors import UnknownTask

CATEGORIES = ("email", "report", "analytics", "cleanup")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    category: str
    queue: str
    params_schema: type[Schema]
    default_priority: int
    default_max_retries: int
    time_limit_ms: int
    description: str

    def load_params(self, raw: Any) -> dict[str, Any]:
        """Validate raw params; raises marshmallow.ValidationError naming each bad field."""
        return self.params_schema().load(raw)  # type: ignore[return-value]


def _spec(
    name: str,
    category: str,
    queue: str,
    schema: type[Schema],
    priority: int,
    time_limit_s: int,
    description: str,
) -> TaskSpec:
    return TaskSpec(name, category, queue, schema, priority, 3, time_limit_s * 1000, description)


# Default priorities follow the seed systems: email 3, reports 5, analytics 2, cleanup 1.
CATALOG: Mapping[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec("email.send_notification", "email", "email", params.SendNotificationParams, 3, 60,
              "Send an email: text and/or HTML body, or a named template with its context."),
        _spec("email.send_confirmation", "email", "email", params.SendConfirmationParams, 3, 60,
              "Send the templated confirmation for a record (id, title, summary)."),
        _spec("reports.generate_excel", "report", "reports", params.GenerateExcelParams, 5, 1800,
              "Build an .xlsx from inline rows, the task history or a registered source."),
        _spec("reports.generate_pdf", "report", "reports", params.GeneratePdfParams, 5, 120,
              "Build a PDF for one record: title, fields and an optional table."),
        _spec("analytics.update_dashboard", "analytics", "analytics",
              params.UpdateDashboardParams, 2, 120,
              "Per queue and type: status counts, throughput, rates, durations, retries, errors."),
        _spec("analytics.process_data", "analytics", "analytics", params.ProcessDataParams, 2, 300,
              "Compute task_trends or failure_breakdown over a date range; keep a snapshot."),
        _spec("analytics.sync_metrics", "analytics", "analytics", params.SyncMetricsParams, 2, 120,
              "Fetch JSON metrics from an HTTP source and upsert them."),
        _spec("cleanup.old_records", "cleanup", "analytics", params.CleanupParams, 1, 600,
              "Delete finished tasks, their history and expired artifacts past the window."),
    )
}  # fmt: skip

QUEUES = frozenset(spec.queue for spec in CATALOG.values())


def get_spec(task_name: str) -> TaskSpec:
    try:
        return CATALOG[task_name]
    except KeyError:
        raise UnknownTask(f"unknown task {task_name!r}") from None


def specs_for_queue(queue: str) -> list[TaskSpec]:
    return [spec for spec in CATALOG.values() if spec.queue == queue]
