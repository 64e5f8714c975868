"""The task list's filter, as the dashboard's forms send it (query string or form fields):
validated with marshmallow like every input; a bad field is a 422 naming it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate
from werkzeug.datastructures import MultiDict

from offload_shared.errors import InvalidRequest
from offload_shared.models import TaskStatus
from offload_shared.store import TaskFilter

__all__ = ["PAGE_SIZE", "ListQuery", "parse", "parse_page"]

PAGE_SIZE = 50
MAX_PAGE = 200  # page 200 of 50 is the 10,000th task: narrow the filter to see further
FIELDS = ("status", "queue", "task_name", "since", "until", "id")
# <input type="datetime-local"> sends minutes, or seconds; read as UTC (the page says so).
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
NAME = validate.Regexp(r"^[A-Za-z0-9_.-]{1,200}$", error="letters, digits, '.', '_' or '-'")


class UtcMinute(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        for fmt in TIME_FORMATS:
            try:
                return datetime.strptime(str(value), fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise ValidationError("a date and time like 2026-12-01T09:30 (UTC)")


class ListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf([s.value for s in TaskStatus]))
    queue = fields.String(validate=NAME)
    task_name = fields.String(validate=NAME)
    since = UtcMinute()
    until = UtcMinute()
    id = fields.String(
        validate=validate.Regexp(r"^[0-9a-fA-F-]{1,36}$", error="hex digits and '-' of a task id")
    )
    page = fields.Integer(validate=validate.Range(1, MAX_PAGE), load_default=1)

    @pre_load
    def _drop_empty(self, data: Any, **kwargs: Any) -> Any:
        """An empty form field means no filter."""
        return {k: v.strip() for k, v in data.items() if isinstance(v, str) and v.strip()}


@dataclass(frozen=True)
class ListQuery:
    where: TaskFilter
    values: dict[str, str]  # the filter as given, to refill the form and build links
    page: int

    def link(self, **changes: Any) -> str:
        """This filter's query string, with `changes` (e.g. page=2)."""
        values = {**self.values, "page": str(self.page), **{k: str(v) for k, v in changes.items()}}
        if values.get("page") == "1":
            values.pop("page")
        return urlencode(values)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def parse(args: MultiDict[str, str]) -> ListQuery:
    raw = {name: args.get(name, "") for name in (*FIELDS, "page")}
    try:
        loaded = ListQuerySchema().load(raw)
    except ValidationError as err:
        named = ", ".join(sorted(str(name) for name in err.messages_dict))
        details = "; ".join(
            f"{name}: {' '.join(map(str, problems))}"
            for name, problems in sorted(err.messages_dict.items())
        )
        raise InvalidRequest(f"bad filter field(s) {named} ({details})") from None
    where = TaskFilter(
        status=TaskStatus(loaded["status"]) if "status" in loaded else None,
        queue=loaded.get("queue"),
        task_name=loaded.get("task_name"),
        created_after=loaded.get("since"),
        created_before=loaded.get("until"),
        id_prefix=loaded["id"].lower() if "id" in loaded else None,
    )
    values = {k: raw[k].strip() for k in FIELDS if k in loaded}
    return ListQuery(where, values, loaded["page"])


class PageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(validate=validate.Range(1, 10_000), load_default=1)


def parse_page(args: MultiDict[str, str]) -> int:
    """`?page=` of a plain paginated page (1 when absent); a bad one is a 422 naming it."""
    raw = {"page": args["page"]} if args.get("page") else {}
    try:
        return int(PageSchema().load(raw)["page"])
    except ValidationError:
        raise InvalidRequest("bad field page (a whole number from 1)") from None
