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


CATALOG: Mapping[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="email.send_notification",
            category="email",
            queue="email",
            params_schema=params.SendNotificationParams,
            default_priority=3,
            default_max_retries=3,
            time_limit_ms=60_000,
            description="Send one plain-text email over SMTP.",
        ),
        TaskSpec(
            name="reports.generate_excel",
            category="report",
            queue="reports",
            params_schema=params.GenerateExcelParams,
            default_priority=5,
            default_max_retries=3,
            time_limit_ms=600_000,
            description="Build an .xlsx workbook from columns and rows; store it as an artifact.",
        ),
        TaskSpec(
            name="analytics.update_dashboard",
            category="analytics",
            queue="analytics",
            params_schema=params.UpdateDashboardParams,
            default_priority=2,
            default_max_retries=3,
            time_limit_ms=120_000,
            description="Count the tenant's tasks by status and type, with mean duration.",
        ),
    )
}

QUEUES = frozenset(spec.queue for spec in CATALOG.values())


def get_spec(task_name: str) -> TaskSpec:
    try:
        return CATALOG[task_name]
    except KeyError:
        raise UnknownTask(f"unknown task {task_name!r}") from None


def specs_for_queue(queue: str) -> list[TaskSpec]:
    return [spec for spec in CATALOG.values() if spec.queue == queue]
