from collections.abc import Iterator

import pytest
from marshmallow import Schema, ValidationError, fields

from offload_api.schemas import (
    BatchEnqueueRequestSchema,
    EnqueueRequestSchema,
    EventSchema,
    ReportRequestSchema,
    SyncRequestSchema,
)
from offload_shared import catalog
from offload_shared.catalog import CATALOG, get_spec
from offload_shared.errors import UnknownTask
from offload_shared.params import JsonBoolean, JsonInteger, JsonNumber


def errors_for(task_name, params):
    with pytest.raises(ValidationError) as err:
        get_spec(task_name).load_params(params)
    return err.value.messages


def test_every_catalog_entry_is_complete():
    for name, spec in CATALOG.items():  # the built-in tasks, and any a test registered
        assert spec.name == name
        assert catalog.WORD.match(spec.category)
        assert 1 <= spec.default_priority <= 10
        assert spec.time_limit_ms > 0
    built_in = {spec.category for spec in CATALOG.values() if spec.queue in catalog.QUEUES}
    assert built_in == set(catalog.CATEGORIES)


def test_unknown_task_name_raises_unknown_task():
    with pytest.raises(UnknownTask):
        get_spec("email.nope")


def test_notification_accepts_valid_params():
    params = {"to": "a@example.com", "subject": "Hi", "body": "Hello"}
    loaded = get_spec("email.send_notification").load_params(params)
    assert loaded == {**params, "to": ["a@example.com"]}


def test_notification_rejects_header_injection_and_bad_address():
    errors = errors_for(
        "email.send_notification",
        {"to": "not-an-address", "subject": "a\r\nBcc: x@y.z", "body": "b"},
    )
    assert set(errors) == {"to", "subject"}


def test_unknown_param_is_named():
    errors = errors_for("analytics.update_dashboard", {"surprise": 1})
    assert "surprise" in errors


def test_excel_rows_must_match_columns():
    errors = errors_for(
        "reports.generate_excel", {"report_name": "r", "columns": ["a", "b"], "rows": [[1, 2], [3]]}
    )
    assert errors == {"rows": {"1": ["has 1 cells, expected 2"]}}


def test_excel_needs_exactly_one_source():
    assert "_schema" in errors_for("reports.generate_excel", {"report_name": "r"})
    both = {"report_name": "r", "columns": ["a"], "rows": [], "task_history": {}}
    assert "_schema" in errors_for("reports.generate_excel", both)


def test_excel_cells_must_be_scalars():
    errors = errors_for(
        "reports.generate_excel", {"report_name": "r", "columns": ["a"], "rows": [[{"x": 1}]]}
    )
    assert "rows" in errors


def test_excel_report_name_cannot_escape_a_filename():
    errors = errors_for(
        "reports.generate_excel", {"report_name": '../x"', "columns": ["a"], "rows": []}
    )
    assert "report_name" in errors


@pytest.mark.parametrize(
    "params",
    [
        {"to": "a@b.com\r\nBcc: x@y.z", "subject": "s", "body": "b"},
        {"to": "a@b.com", "cc": ["c@d.com\r\nBcc: x@y.z"], "subject": "s", "body": "b"},
        {"to": "a@b.com", "reply_to": "r@b.com\nX-Evil: 1", "subject": "s", "body": "b"},
        {"to": "a@b.com", "subject": "s\rBcc: x@y.z", "body": "b"},
    ],
    ids=["to", "cc", "reply_to", "subject"],
)
def test_no_header_value_may_carry_a_line_break(params):
    assert errors_for("email.send_notification", params)


def test_too_many_recipients_are_refused():
    params = {
        "to": [f"u{i}@example.com" for i in range(40)],
        "cc": [f"c{i}@example.com" for i in range(11)],
        "subject": "s",
        "body": "b",
    }
    assert "to" in errors_for("email.send_notification", params)


def test_oversized_body_is_refused():
    params = {"to": "a@b.com", "subject": "s", "body": "x" * 200_001}
    assert "body" in errors_for("email.send_notification", params)


def _fields(schema: Schema) -> Iterator[tuple[str, fields.Field]]:
    for name, field in schema.fields.items():
        yield from _inner(name, field)


def _inner(name: str, field: fields.Field) -> Iterator[tuple[str, fields.Field]]:
    yield name, field
    if isinstance(field, fields.Nested):
        yield from ((f"{name}.{n}", f) for n, f in _fields(field.schema))
    elif isinstance(field, fields.List):
        yield from _inner(f"{name}[]", field.inner)
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        yield from _inner(f"{name}{{}}", field.value_field)


def test_every_number_and_boolean_a_request_body_carries_is_strict():
    """marshmallow's own Integer takes 5.5 as 5 and "5" as 5, its Boolean takes 0 and "yes":
    a JSON body gets JsonInteger, JsonNumber and JsonBoolean instead."""
    bodies = [spec.params_schema() for spec in CATALOG.values()] + [
        cls() for cls in (EnqueueRequestSchema, BatchEnqueueRequestSchema, ReportRequestSchema,
                          SyncRequestSchema, EventSchema)
    ]  # fmt: skip
    loose = [
        f"{type(schema).__name__}.{name}"
        for schema in bodies
        for name, field in _fields(schema)
        if isinstance(field, fields.Number | fields.Boolean)
        and not isinstance(field, JsonInteger | JsonNumber | JsonBoolean)
    ]
    assert loose == []
