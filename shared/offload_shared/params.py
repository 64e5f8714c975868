"""Marshmallow schemas for each task's params: the API validates against them, workers trust them.

Params are stored as JSON, so every schema loads to JSON-native values only. Everything a
worker would choke on, or that could be abused (header injection, huge bodies, URLs that are not
http(s)), is refused here, before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from offload_shared import email_templates, report_sources

__all__ = [
    "SINGLE_LINE",
    "Addresses",
    "JsonBoolean",
    "JsonInteger",
    "JsonNumber",
    "Scalar",
    "SyncMetricsParams",  # the API's POST /api/analytics/sync takes these fields at its top level
]

# What no header line (Subject, Content-Disposition, ...) can carry: every line break that
# str.splitlines() knows (CR, LF, VT, FF, FS, GS, RS, NEL, U+2028, U+2029) and the other C0
# and C1 control characters. A tab is allowed.
_NOT_ONE_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


class SingleLine(validate.Validator):
    """For every value that can end up in a header: one line, no control characters."""

    error = "must be one line: no line breaks or control characters"

    def __call__(self, value: str) -> str:
        if _NOT_ONE_LINE.search(value):
            raise ValidationError(self.error)
        return value


SINGLE_LINE = SingleLine()


SAFE_NAME = validate.Regexp(
    r"^[\w][\w .-]*$", error="may contain letters, digits, space, '.', '_' and '-'"
)
MAX_RECIPIENTS = 50
MAX_TEXT_CHARS = 200_000
MAX_HTML_CHARS = 500_000
MAX_INLINE_ROWS = 10_000
MAX_COLUMNS = 100
MAX_FIELDS = 100
MAX_PDF_ROWS = 2_000
MAX_RANGE_DAYS = 366


class JsonInteger(fields.Integer):
    """An integer as JSON writes one: 5, never 5.5, 5.0, "5" or true."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class JsonNumber(fields.Float):
    """A JSON number: 5 or 5.5, never "5.5" or true."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class JsonBoolean(fields.Boolean):
    """true or false, never 0, 1, "true" or "yes"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Scalar(fields.Field):
    """A JSON scalar: string, number, boolean or null."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise ValidationError("must be a string, number, boolean or null")


class IsoDate(fields.Date):
    """A YYYY-MM-DD date, kept as its ISO string (params are stored as JSON)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


class Addresses(fields.Field):
    """One address or a list of addresses, loaded as a list."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values:
            raise ValidationError("must be an address or a non-empty list of addresses")
        return fields.List(fields.Email(validate=validate.Length(max=254))).deserialize(values)


def _check_recipients(data: dict[str, Any], *names: str) -> None:
    total = sum(len(data.get(name) or []) for name in names)
    if total > MAX_RECIPIENTS:
        raise ValidationError(f"at most {MAX_RECIPIENTS} recipients in all", names[0])


class SendNotificationParams(Schema):
    to = Addresses(required=True)
    cc = fields.List(fields.Email(validate=validate.Length(max=254)))
    reply_to = fields.Email(validate=validate.Length(max=254))
    subject = fields.String(validate=[validate.Length(1, 200), SINGLE_LINE])
    body = fields.String(validate=validate.Length(1, MAX_TEXT_CHARS))
    html = fields.String(validate=validate.Length(1, MAX_HTML_CHARS))
    template = fields.String(validate=validate.OneOf(sorted(email_templates.names())))
    context = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)))

    @validates_schema
    def _content(self, data: dict[str, Any], **_: Any) -> None:
        _check_recipients(data, "to", "cc")
        if "template" in data:
            if "body" in data or "html" in data:
                raise ValidationError("give a template or body/html, not both", "template")
            missing = email_templates.required_variables(data["template"]) - set(
                data.get("context", {})
            )
            if missing:
                raise ValidationError(f"missing: {', '.join(sorted(missing))}", "context")
            if len(repr(data.get("context", {}))) > MAX_TEXT_CHARS:
                raise ValidationError("context is too large", "context")
        else:
            if "body" not in data and "html" not in data:
                raise ValidationError("give body, html or a template", "body")
            if "subject" not in data:
                raise ValidationError("Missing data for required field.", "subject")
            if "context" in data:
                raise ValidationError("context goes with a template", "context")


class SendConfirmationParams(Schema):
    record_id = fields.String(required=True, validate=[validate.Length(1, 100), SINGLE_LINE])
    recipient = fields.Email(required=True, validate=validate.Length(max=254))
    record_title = fields.String(
        load_default="record", validate=[validate.Length(1, 100), SINGLE_LINE]
    )
    record_summary = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 100)),
        values=Scalar(allow_none=True),
        load_default=dict,
        validate=validate.Length(max=MAX_FIELDS),
    )


class TaskHistorySource(Schema):
    status = fields.String(
        validate=validate.OneOf(["pending", "running", "completed", "failed", "cancelled"])
    )
    task_type = fields.String(validate=validate.OneOf(["email", "report", "analytics", "cleanup"]))
    task_name = fields.String(validate=validate.Length(1, 200))
    created_from = IsoDate()
    created_to = IsoDate()


class GenerateExcelParams(Schema):
    """Rows come from exactly one of: inline columns+rows, task_history, or a registered source."""

    report_name = fields.String(required=True, validate=[validate.Length(1, 100), SAFE_NAME])
    columns = fields.List(
        fields.String(validate=validate.Length(1, 100)), validate=validate.Length(1, MAX_COLUMNS)
    )
    rows = fields.List(
        fields.List(Scalar(allow_none=True)), validate=validate.Length(max=MAX_INLINE_ROWS)
    )
    task_history = fields.Nested(TaskHistorySource)
    source = fields.String(validate=validate.Length(1, 100))
    source_params = fields.Dict(keys=fields.String(), values=Scalar(allow_none=True))

    @validates_schema
    def _one_source(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("columns", "task_history", "source") if k in data]
        if len(given) != 1:
            raise ValidationError("give exactly one of columns+rows, task_history or source")
        if "columns" in data:
            _check_inline(data)
        if "source" in data:
            _check_registered(data["source"], data.get("source_params", {}))
        elif "source_params" in data:
            raise ValidationError("source_params goes with source", "source_params")


def _check_inline(data: dict[str, Any]) -> None:
    columns = data["columns"]
    if "rows" not in data:
        raise ValidationError("Missing data for required field.", "rows")
    if len(set(columns)) != len(columns):
        raise ValidationError("column names must be unique", "columns")
    for i, row in enumerate(data["rows"]):
        if len(row) != len(columns):
            raise ValidationError(
                {str(i): [f"has {len(row)} cells, expected {len(columns)}"]}, "rows"
            )


def _check_registered(name: str, values: dict[str, Any]) -> None:
    source = report_sources.registry().get(name)
    if source is None:
        known = ", ".join(sorted(report_sources.registry())) or "none registered"
        raise ValidationError(f"unknown report source; known: {known}", "source")
    errors: dict[str, list[str]] = {}
    for param, kind in source.params.items():
        if param not in values:
            errors[param] = ["Missing data for required field."]
        elif not _matches(values[param], kind):
            errors[param] = [f"must be a {kind}"]
    for extra in set(values) - set(source.params):
        errors[extra] = ["Unknown field."]
    if errors:
        raise ValidationError(errors, "source_params")


def _matches(value: Any, kind: str) -> bool:
    if kind == "date":
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    expected = {"string": str, "integer": int, "number": int | float, "boolean": bool}[kind]
    return isinstance(value, expected) and (kind == "boolean" or not isinstance(value, bool))


class PdfTable(Schema):
    columns = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        required=True,
        validate=validate.Length(1, 20),
    )
    rows = fields.List(
        fields.List(Scalar(allow_none=True)),
        required=True,
        validate=validate.Length(max=MAX_PDF_ROWS),
    )

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        for i, row in enumerate(data.get("rows", [])):
            if len(row) != len(data.get("columns", [])):
                raise ValidationError({str(i): ["does not match the columns"]}, "rows")


class GeneratePdfParams(Schema):
    record_id = fields.String(required=True, validate=[validate.Length(1, 100), SAFE_NAME])
    title = fields.String(required=True, validate=[validate.Length(1, 200), SINGLE_LINE])
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(validate=validate.Length(1, 100)),
        values=Scalar(allow_none=True),
        load_default=dict,
        validate=validate.Length(max=MAX_FIELDS),
    )
    table = fields.Nested(PdfTable)

    @post_load
    def _plain_keys(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["fields"] = data.pop("fields_")
        return data


class UpdateDashboardParams(Schema):
    """No params: the dashboard covers all of the calling tenant's tasks."""


class DateRange(Schema):
    start_date = IsoDate(required=True)
    end_date = IsoDate(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if {"start_date", "end_date"} <= set(data):
            start = dt.date.fromisoformat(data["start_date"])
            end = dt.date.fromisoformat(data["end_date"])
            if end < start:
                raise ValidationError("must not be before start_date", "end_date")
            if (end - start).days > MAX_RANGE_DAYS:
                raise ValidationError(f"a range spans at most {MAX_RANGE_DAYS} days", "end_date")


class ProcessDataParams(Schema):
    data_type = fields.String(
        required=True, validate=validate.OneOf(["task_trends", "failure_breakdown"])
    )
    date_range = fields.Nested(DateRange, required=True)


class SyncMetricsParams(Schema):
    source_url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
    )
    team_id = fields.String(validate=[validate.Length(1, 100), SINGLE_LINE])
    force_refresh = JsonBoolean(load_default=False)


class CleanupParams(Schema):
    days_to_keep = JsonInteger(load_default=90, validate=validate.Range(1, 3650))
