"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from offload_shared.catalog import CATALOG, CATEGORIES
from offload_shared.models import TaskStatus

STATUSES = [s.value for s in TaskStatus]


class EnqueueRequestSchema(Schema):
    task_name = fields.String(
        required=True, metadata={"description": "A catalog name, e.g. email.send_notification"}
    )
    task_type = fields.String(
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "Optional; if given it must match the task's category"},
    )
    params = fields.Dict(load_default=dict, metadata={"description": "Validated per task"})
    priority = fields.Integer(
        validate=validate.Range(1, 10), metadata={"description": "1-10, 10 most urgent"}
    )
    max_retries = fields.Integer(validate=validate.Range(0, 20))

    @validates_schema
    def _known_task(self, data: dict[str, Any], **_: Any) -> None:
        spec = CATALOG.get(data.get("task_name", ""))
        if spec is None:
            raise ValidationError(
                f"unknown task; one of: {', '.join(sorted(CATALOG))}", "task_name"
            )
        if "task_type" in data and data["task_type"] != spec.category:
            raise ValidationError(f"{spec.name} is of type {spec.category!r}", "task_type")

    @post_load
    def _load_params(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        spec = CATALOG[data["task_name"]]
        try:
            data["params"] = spec.load_params(data["params"])
        except ValidationError as err:
            raise ValidationError(err.messages, "params") from None
        data["spec"] = spec
        return data


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
    cancel_requested_at = fields.DateTime(allow_none=True)


class TaskFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    task_type = fields.String(validate=validate.OneOf(CATEGORIES))
    task_name = fields.String(validate=validate.Length(1, 200))


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
