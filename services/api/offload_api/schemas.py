"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from offload_shared.catalog import CATALOG, TaskSpec, categories
from offload_shared.fanout import RULES
from offload_shared.models import TaskStatus
from offload_shared.params import (
    SINGLE_LINE,
    JsonBoolean,
    JsonInteger,
    JsonNumber,
    RecordFields,
    SyncMetricsParams,
)
from offload_shared.store import TaskFilter

STATUSES = [s.value for s in TaskStatus]


OPTIONS = ("priority", "max_retries", "delay_seconds")


class TaskOptionsSchema(Schema):
    priority = JsonInteger(
        validate=validate.Range(1, 10), metadata={"description": "1-10, 10 most urgent"}
    )
    max_retries = JsonInteger(validate=validate.Range(0, 20))
    delay_seconds = JsonNumber(
        validate=validate.Range(0, 7 * 86_400),
        metadata={"description": "run no earlier than this many seconds from now (max 7 days)"},
    )


def known_category(value: str) -> None:
    """A category of the catalog as it is now (teams register their own tasks at start)."""
    if value not in categories():
        raise ValidationError(f"Must be one of: {', '.join(categories())}.")


def known_task(value: str) -> None:
    if value not in CATALOG:
        raise ValidationError(f"unknown task; one of: {', '.join(sorted(CATALOG))}")


class TaskParams(fields.Dict):
    """A task's params, checked against its task's schema in the same pass as the fields
    beside them, so that one answer names every bad field. `spec_of` finds the task from the
    raw request (None when that is invalid: its own field says why)."""

    def __init__(
        self, spec_of: Callable[[Mapping[str, Any]], TaskSpec | None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.spec_of = spec_of

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        spec = self.spec_of(data) if isinstance(data, Mapping) else None
        return spec.load_params(value) if spec else value


def named_task(data: Mapping[str, Any]) -> TaskSpec | None:
    name = data.get("task_name")
    return CATALOG.get(name) if isinstance(name, str) else None


class EnqueueRequestSchema(TaskOptionsSchema):
    task_name = fields.String(
        required=True,
        validate=known_task,
        metadata={"description": "A catalog name, e.g. email.send_notification"},
    )
    task_type = fields.String(
        validate=known_category,
        metadata={"description": "Optional; if given it must match the task's category"},
    )
    params = TaskParams(named_task, metadata={"description": "Validated per task"})

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _params_and_type(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        spec = CATALOG.get(data.get("task_name", ""))
        if spec is None:
            return
        if "task_type" in data and data["task_type"] != spec.category:
            raise ValidationError(f"{spec.name} is of type {spec.category!r}", "task_type")
        if "params" not in original:  # none given: they must be valid as {}
            try:
                data["params"] = spec.load_params({})
            except ValidationError as err:
                raise ValidationError(err.messages, "params") from None

    @post_load
    def _spec(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["spec"] = CATALOG[data["task_name"]]
        return data


MAX_BATCH = 1_000


class BatchEnqueueRequestSchema(Schema):
    tasks = fields.List(
        fields.Nested(EnqueueRequestSchema),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
        metadata={"description": f"1 to {MAX_BATCH} tasks; one invalid task refuses them all"},
    )


class EnqueuedSchema(Schema):
    """A task just accepted, briefly (the batch answer)."""

    task_id = fields.UUID(attribute="id")
    task_name = fields.String()
    priority = fields.Integer()
    status = fields.String(metadata={"enum": STATUSES})
    next_attempt_at = fields.DateTime(allow_none=True)


class BatchEnqueuedSchema(Schema):
    count = fields.Integer()
    tasks = fields.List(fields.Nested(EnqueuedSchema), metadata={"description": "in request order"})


REPORT_TASKS = {"excel": "reports.generate_excel", "pdf": "reports.generate_pdf"}


def _report_task(data: Mapping[str, Any]) -> TaskSpec | None:
    kind = data.get("format")
    name = REPORT_TASKS.get(kind) if isinstance(kind, str) else None
    return CATALOG[name] if name else None


class ReportRequestSchema(TaskOptionsSchema):
    format = fields.String(required=True, validate=validate.OneOf(sorted(REPORT_TASKS)))
    params = TaskParams(
        _report_task, required=True, metadata={"description": "The report task's params"}
    )

    @post_load
    def _spec(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["spec"] = _report_task(data)
        return data


class SyncRequestSchema(TaskOptionsSchema, SyncMetricsParams):
    """Seed 004's metrics sync: the task's params at the top level, plus task options."""

    @post_load
    def _split(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        options = {k: data.pop(k) for k in OPTIONS if k in data}
        return {**options, "spec": CATALOG["analytics.sync_metrics"], "params": data}


class EventSchema(RecordFields):
    event = fields.String(required=True, validate=validate.OneOf(sorted(RULES)))
    recipient_email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    record_title = fields.String(
        load_default="Record", validate=[validate.Length(1, 100), SINGLE_LINE]
    )


class EventOutcomeSchema(Schema):
    event = fields.String()
    tasks = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "task id by kind"}
    )
    skipped = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "why a rule did not apply, by kind"},
    )
    failed = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={"description": "why a task could not be created, by kind"},
    )


class SnapshotSchema(Schema):
    kind = fields.String()
    task_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    data = fields.Dict()


class LatestSnapshotsSchema(Schema):
    snapshots = fields.Dict(
        keys=fields.String(), values=fields.Nested(SnapshotSchema, allow_none=True)
    )


class TaskSchema(Schema):
    task_id = fields.UUID(attribute="id")
    task_name = fields.String()
    task_type = fields.String()
    queue = fields.String()
    priority = fields.Integer()
    status = fields.String(metadata={"enum": STATUSES})
    params = fields.Dict()
    result = fields.Raw(allow_none=True)
    error_message = fields.String(allow_none=True)
    progress = fields.Integer()
    attempts = fields.Integer()
    retry_count = fields.Integer()
    max_retries = fields.Integer()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    waiting = fields.String(
        allow_none=True,
        metadata={
            "enum": ["rate_limit", "concurrency_limit", None],
            "description": "a pending task held back by its task's limit: which one",
        },
    )
    cancel_requested_at = fields.DateTime(allow_none=True)
    request_id = fields.String(
        allow_none=True,
        metadata={"description": "the X-Request-ID of the API request that enqueued the task"},
    )


def known_queue(value: str) -> None:
    """A queue of the catalog as it is now (a team's own tasks may add queues)."""
    queues = sorted({spec.queue for spec in CATALOG.values()})
    if value not in queues:
        raise ValidationError(f"Must be one of: {', '.join(queues)}.")


ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{1,36}$")


class TaskFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    task_type = fields.String(validate=known_category)
    task_name = fields.String(validate=validate.Length(1, 200))
    queue = fields.String(validate=known_queue)
    created_after = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "ISO 8601; created at or after it (no offset: UTC)"},
    )
    created_before = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "ISO 8601; created before it"}
    )
    id_prefix = fields.String(
        validate=validate.Regexp(ID_PREFIX, error="must be 1-36 hex digits or dashes"),
        metadata={"description": "the start of the task id (as in 3f0c or 3f0c1a2b-9d)"},
    )

    @post_load
    def _lower(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "id_prefix" in data:
            data["id_prefix"] = data["id_prefix"].lower()
        return data


FILTER_FIELDS = ("status", "task_type", "task_name", "queue", "created_after", "created_before",
                 "id_prefix")  # fmt: skip


def task_filter(args: Mapping[str, Any]) -> TaskFilter:
    """The store's filter from a request's filter fields (those absent match anything)."""
    found = {name: args[name] for name in FILTER_FIELDS if args.get(name) is not None}
    if "status" in found:
        found["status"] = TaskStatus(found["status"])
    return TaskFilter(**found)


MAX_BULK_LIMIT = 10_000


class BulkRequestSchema(TaskFilterSchema):
    """A bulk retry or cancel: the filter, and whether to change anything."""

    dry_run = JsonBoolean(
        load_default=False, metadata={"description": "count what would change, change nothing"}
    )
    limit = JsonInteger(
        validate=validate.Range(1, MAX_BULK_LIMIT),
        metadata={"description": "change at most this many in this call (page through the rest)"},
    )
    all = JsonBoolean(
        load_default=False,
        metadata={"description": "true: an empty filter, every task of the tenant, is meant"},
    )

    @validates_schema
    def _explicit(self, data: dict[str, Any], **_: Any) -> None:
        if not data["all"] and not any(data.get(name) is not None for name in FILTER_FIELDS):
            raise ValidationError(
                f"an empty filter matches every task: give one of {', '.join(FILTER_FIELDS)}, "
                "or all: true",
                "all",
            )


class BulkResultSchema(Schema):
    matched = fields.Integer(metadata={"description": "matching tasks the action applies to"})
    changed = fields.Integer(metadata={"description": "tasks changed (0 on a dry run)"})
    dry_run = fields.Boolean()


class TaskListQuerySchema(TaskFilterSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class TaskListSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class CountSchema(Schema):
    count = fields.Integer()


class TaskEventSchema(Schema):
    status = fields.String(metadata={"enum": STATUSES})
    attempt = fields.Integer()
    detail = fields.String(allow_none=True)
    at = fields.DateTime()


class TaskEventListSchema(Schema):
    items = fields.List(fields.Nested(TaskEventSchema))


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())
