"""Marshmallow schemas for each task's params: the API validates against them, workers trust them.

Params are stored as JSON, so every schema loads to JSON-native values only.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

NO_LINE_BREAKS = validate.Regexp(r"^[^\r\n]*$", error="must not contain line breaks")
MAX_EMAIL_BODY_CHARS = 200_000
MAX_INLINE_ROWS = 10_000
MAX_COLUMNS = 100


class SendNotificationParams(Schema):
    to = fields.Email(required=True, validate=validate.Length(max=254))
    subject = fields.String(required=True, validate=[validate.Length(1, 200), NO_LINE_BREAKS])
    body = fields.String(required=True, validate=validate.Length(1, MAX_EMAIL_BODY_CHARS))


class _Cell(fields.Field):
    """A spreadsheet cell: a string, number, boolean or null."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise ValidationError("must be a string, number, boolean or null")


class GenerateExcelParams(Schema):
    report_name = fields.String(
        required=True,
        validate=[
            validate.Length(1, 100),
            validate.Regexp(
                r"^[\w][\w .-]*$", error="may contain letters, digits, space, '.', '_' and '-'"
            ),
        ],
    )
    columns = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        required=True,
        validate=validate.Length(1, MAX_COLUMNS),
    )
    rows = fields.List(
        fields.List(_Cell(allow_none=True)),
        required=True,
        validate=validate.Length(max=MAX_INLINE_ROWS),
    )

    @validates_schema
    def _rows_match_columns(self, data: dict[str, Any], **_: Any) -> None:
        columns = data.get("columns", [])
        if len(set(columns)) != len(columns):
            raise ValidationError("column names must be unique", "columns")
        for i, row in enumerate(data.get("rows", [])):
            if len(row) != len(columns):
                raise ValidationError(
                    {str(i): [f"has {len(row)} cells, expected {len(columns)}"]}, "rows"
                )


class UpdateDashboardParams(Schema):
    """No params: the dashboard covers all of the calling tenant's tasks."""
