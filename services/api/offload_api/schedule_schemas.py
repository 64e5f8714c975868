"""Request and response schemas of /api/schedules (the OpenAPI document is made from these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from offload_api.schemas import STATUSES, TaskParams, known_task, named_task
from offload_shared.catalog import CATALOG
from offload_shared.params import SINGLE_LINE, JsonBoolean, JsonInteger
from offload_shared.schedule_times import MAX_EVERY_SECONDS, check_cron, check_timezone
from offload_shared.schedules import ScheduleFields

MISFIRE = ("skip", "run_once")
RULES = ("cron", "every_seconds")


def valid_cron(value: str) -> None:
    try:
        check_cron(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def valid_timezone(value: str) -> None:
    try:
        check_timezone(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _name(*, required: bool = False) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(1, 100), SINGLE_LINE],
        metadata={"description": "unique among the tenant's schedules"},
    )


def _cron() -> fields.String:
    return fields.String(
        allow_none=True,
        validate=[validate.Length(1, 200), valid_cron],
        metadata={
            "description": "five fields (minute hour day-of-month month day-of-week) or "
            "@hourly/@daily/@weekly/@monthly/@yearly, in `timezone`; or give every_seconds",
            "example": "0 2 * * *",
        },
    )


def _every_seconds() -> JsonInteger:
    return JsonInteger(
        allow_none=True,
        validate=validate.Range(1, MAX_EVERY_SECONDS),
        metadata={"description": "fire every N seconds, counted from the previous fire time"},
    )


def _priority() -> JsonInteger:
    return JsonInteger(
        allow_none=True,
        validate=validate.Range(1, 10),
        metadata={"description": "1-10, 10 most urgent; null: the task's default"},
    )


class ScheduleRequestSchema(Schema):
    """A whole schedule: what POST takes, and what a PATCH must leave once applied."""

    name = _name(required=True)
    task_name = fields.String(
        required=True,
        validate=known_task,
        metadata={"description": "A catalog name, e.g. cleanup.old_records"},
    )
    params = TaskParams(named_task, metadata={"description": "Validated against the task's"})
    priority = _priority()
    cron = _cron()
    every_seconds = _every_seconds()
    timezone = fields.String(
        load_default="UTC",
        validate=[validate.Length(1, 100), valid_timezone],
        metadata={"description": "IANA time zone of the cron expression", "example": "UTC"},
    )
    misfire = fields.String(
        load_default="skip",
        validate=validate.OneOf(MISFIRE),
        metadata={
            "description": "fire times missed by more than the grace window (the scheduler "
            "was down): `skip` fires none of them, `run_once` fires one, for the latest"
        },
    )
    enabled = JsonBoolean(load_default=True)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _rule_and_params(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        given = [k for k in RULES if isinstance(original, Mapping) and original.get(k) is not None]
        if len(given) == 2:
            errors = {k: ["give cron or every_seconds, not both"] for k in RULES}
        elif not given:
            errors = {k: ["cron or every_seconds is required"] for k in RULES}
        spec = CATALOG.get(data.get("task_name", ""))
        if spec is not None and "params" not in original:  # none given: valid as {}?
            try:
                data["params"] = spec.load_params({})
            except ValidationError as err:
                errors["params"] = err.messages  # type: ignore[assignment]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _fields(self, data: dict[str, Any], **_: Any) -> ScheduleFields:
        if data.get("cron") is not None:
            data["cron"] = check_cron(data["cron"])  # aliases are kept as their five fields
        return ScheduleFields(**data)


class SchedulePatchSchema(Schema):
    """Any of a schedule's fields; the schedule they make is validated whole (params against
    the task it then names). `null` clears cron, every_seconds or priority."""

    name = _name()
    task_name = fields.String(validate=known_task)
    params = fields.Dict(metadata={"description": "Validated against the task's"})
    priority = _priority()
    cron = _cron()
    every_seconds = _every_seconds()
    timezone = fields.String(validate=[validate.Length(1, 100), valid_timezone])
    misfire = fields.String(validate=validate.OneOf(MISFIRE))
    enabled = JsonBoolean()


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


NULLABLE_STATUS = {"enum": [*STATUSES, None]}


class ScheduleSchema(Schema):
    schedule_id = fields.UUID(attribute="id")
    name = fields.String()
    task_name = fields.String()
    params = fields.Dict()
    priority = fields.Integer(allow_none=True)
    cron = fields.String(allow_none=True)
    every_seconds = fields.Integer(allow_none=True)
    timezone = fields.String()
    misfire = fields.String(metadata={"enum": list(MISFIRE)})
    enabled = fields.Boolean()
    next_run_at = fields.DateTime(
        allow_none=True, metadata={"description": "the next fire time; null while paused"}
    )
    last_run_at = fields.DateTime(
        allow_none=True, metadata={"description": "the fire time of the latest run"}
    )
    last_task_id = fields.UUID(allow_none=True)
    last_task_status = fields.String(allow_none=True, metadata=NULLABLE_STATUS)
    last_run_error = fields.String(
        allow_none=True, metadata={"description": "why the latest run enqueued no task"}
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ScheduleListSchema(Schema):
    items = fields.List(fields.Nested(ScheduleSchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class ScheduleRunSchema(Schema):
    schedule_id = fields.UUID()
    fire_time = fields.DateTime(metadata={"description": "the time it fired for"})
    fired_at = fields.DateTime(metadata={"description": "when it fired"})
    manual = fields.Boolean(metadata={"description": "fired by run-now"})
    task_id = fields.UUID(allow_none=True)
    task_status = fields.String(allow_none=True, metadata=NULLABLE_STATUS)
    error = fields.String(
        allow_none=True,
        metadata={"description": "why no task was enqueued (its params no longer validate)"},
    )


class ScheduleRunListSchema(Schema):
    items = fields.List(fields.Nested(ScheduleRunSchema), metadata={"description": "latest first"})
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
