"""The task catalog: every task Offload can run, declared once.

The API validates requests against it without importing worker code; each worker registers
actors for the entries on its own queue. A team adds its own tasks with `register` in a module
of its own, which its worker imports and the API loads from OFFLOAD_TASK_MODULES (see the
README's "Your own tasks").
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from marshmallow import Schema

from offload_shared import params
from offload_shared.errors import ConfigError, PermanentTaskError, RetryLater, UnknownTask
from offload_shared.retry import JITTER, MAX_BACKOFF_SECONDS, backoff_seconds
from offload_shared.task_limits import TaskLimit

__all__ = [
    "CATALOG",
    "DEFAULT_RETRY",
    "QUEUES",
    "RetryPolicy",
    "TaskSpec",
    "categories",
    "get_spec",
    "load_modules",
    "register",
    "retry_policy",
]

CATEGORIES = ("email", "report", "analytics", "cleanup")  # the built-in tasks' categories
NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")  # e.g. images.resize
WORD = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # a category or a queue


@dataclass(frozen=True)
class RetryPolicy:
    """How a task type's failed attempts are retried; how many times is the entry's
    default_max_retries (a request may set its own max_retries)."""

    base_seconds: float | None = None  # first delay, doubling; None: OFFLOAD_RETRY_BACKOFF_SECONDS
    cap_seconds: float = MAX_BACKOFF_SECONDS
    jitter: float = JITTER  # each delay is spread by ± this fraction
    permanent: tuple[type[BaseException], ...] = ()  # errors retrying cannot fix, besides
    # PermanentTaskError (which always fails at once)

    def is_permanent(self, exc: BaseException) -> bool:
        return isinstance(exc, (PermanentTaskError, *self.permanent))

    def delay(self, exc: BaseException, retry_count: int, default_base: float) -> float:
        """Seconds before the next attempt: RetryLater's own delay, else the backoff."""
        if isinstance(exc, RetryLater) and exc.delay_seconds is not None:
            return min(max(exc.delay_seconds, 0.0), self.cap_seconds)
        base = self.base_seconds if self.base_seconds is not None else default_base
        return backoff_seconds(retry_count, base, cap_seconds=self.cap_seconds, jitter=self.jitter)


DEFAULT_RETRY = RetryPolicy()


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
    retry: RetryPolicy = DEFAULT_RETRY
    # Per tenant; OFFLOAD_TASK_LIMITS overrides it (task_limits.py). None: no limit.
    limit: TaskLimit | None = None

    def load_params(self, raw: Any) -> dict[str, Any]:
        """Validate raw params; raises marshmallow.ValidationError naming each bad field."""
        return _schema(self.params_schema).load(raw)  # type: ignore[return-value]


@cache
def _schema(schema_class: type[Schema]) -> Schema:
    """One instance per schema (marshmallow schemas keep no state between loads)."""
    return schema_class()


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
CATALOG: dict[str, TaskSpec] = {
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

QUEUES = frozenset(spec.queue for spec in CATALOG.values())  # the built-in workers' queues


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task of your own to the catalog (import-time, in the module that declares it).

    Registering the same spec again is harmless; another spec under a taken name is refused.
    """
    problems = [
        f"{what} {value!r} {rule}"
        for what, value, ok, rule in (
            ("name", spec.name, bool(NAME.match(spec.name)), "must be dotted lower-case words"),
            ("category", spec.category, bool(WORD.match(spec.category)), "must be one word"),
            ("queue", spec.queue, bool(WORD.match(spec.queue)), "must be one word"),
            ("default_priority", spec.default_priority, 1 <= spec.default_priority <= 10,
             "must be 1-10"),
            ("default_max_retries", spec.default_max_retries,
             0 <= spec.default_max_retries <= 100, "must be 0-100"),
            ("time_limit_ms", spec.time_limit_ms, spec.time_limit_ms > 0, "must be positive"),
            ("retry.base_seconds", spec.retry.base_seconds,
             spec.retry.base_seconds is None or spec.retry.base_seconds > 0, "must be positive"),
            ("retry.cap_seconds", spec.retry.cap_seconds, spec.retry.cap_seconds > 0,
             "must be positive"),
            ("retry.jitter", spec.retry.jitter, 0 <= spec.retry.jitter < 1, "must be 0-1"),
        )
        if not ok
    ]  # fmt: skip
    if problems:
        raise ConfigError(f"task {spec.name!r}: " + "; ".join(problems))
    existing = CATALOG.get(spec.name)
    if existing is not None and existing != spec:
        raise ConfigError(f"task {spec.name!r} is already in the catalog")
    CATALOG[spec.name] = spec
    return spec


def load_modules(modules: Iterable[str]) -> None:
    """Import the modules that register a team's own tasks (OFFLOAD_TASK_MODULES)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"OFFLOAD_TASK_MODULES: cannot import {module!r} ({exc})") from exc


def categories() -> list[str]:
    return sorted({spec.category for spec in CATALOG.values()})


def retry_policy(task_name: str) -> RetryPolicy:
    """The task type's retry policy (the default one for a task not in the catalog)."""
    spec = CATALOG.get(task_name)
    return spec.retry if spec is not None else DEFAULT_RETRY


def get_spec(task_name: str) -> TaskSpec:
    try:
        return CATALOG[task_name]
    except KeyError:
        raise UnknownTask(f"unknown task {task_name!r}") from None
