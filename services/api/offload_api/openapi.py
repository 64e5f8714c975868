"""The OpenAPI document made exact, for generated clients and fuzzers.

flask-smorest writes the document from the schemas; this adds what it cannot know:

- an `operationId` on every operation, from its view and method (`TaskDetail.get` ->
  `getTaskDetail`);
- each task's own params schema: the enqueue body and the schedule body are each a `oneOf`
  with one variant per catalog entry, told apart by `task_name` (a discriminator), and the
  report body one per `format`;
  the schemas are those the API validates with (teams' own tasks included, as registered at
  start);
- what Offload's own marshmallow fields and validators mean (an address or a list of them, a
  JSON scalar, one line of text).
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Flask
from flask_smorest import Api
from marshmallow import fields

from offload_api.schedule_schemas import ScheduleRequestSchema
from offload_api.schemas import REPORT_TASKS, ReportRequestSchema, TaskParams
from offload_shared.catalog import CATALOG, TaskSpec
from offload_shared.params import SINGLE_LINE, Addresses, Scalar

ONE_LINE_PATTERN = "^[^\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"  # SINGLE_LINE's


class OperationIds(BasePlugin):
    """`operationId` = method + view name, unless a view sets its own."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = rule.endpoint.rsplit(".", 1)[-1]
        for method, operation in operations.items():
            operation.setdefault("operationId", f"{method.lower()}{view}")


def make_api(app: Flask) -> Api:
    """flask-smorest's Api with these additions; blueprints are registered on it next, then
    `publish_task_params` runs."""
    api = Api(app, spec_kwargs={"extra_plugins": [OperationIds()]})
    plugin = api.ma_plugin
    plugin.map_to_openapi_type(TaskParams, "object", None)

    def offload_fields(self: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
        if isinstance(field, Addresses):
            email = {"type": "string", "format": "email", "maxLength": 254}
            return {"oneOf": [email, {"type": "array", "items": email, "minItems": 1}]}
        if isinstance(field, Scalar):
            kinds = ("string", "number", "boolean")
            return {"oneOf": [{"type": kind} for kind in kinds], "nullable": True}
        validators = getattr(field, "validators", ())
        if any(v is SINGLE_LINE for v in validators):
            return {"pattern": ONE_LINE_PATTERN}
        return {}

    plugin.converter.add_attribute_function(offload_fields)  # type: ignore[union-attr]
    return api


def publish_task_params(api: Api) -> None:
    """After the blueprints: one variant of the enqueue, schedule and report bodies per task."""
    spec = api.spec
    schemas = spec.components.schemas
    for body, kind in (("EnqueueRequest", "Enqueue"), (_component_name(ScheduleRequestSchema),
                                                       "Schedule")):  # fmt: skip
        envelope = schemas[body]
        variants = {name: _variant(spec, envelope, "task_name", name, task, kind)
                    for name, task in sorted(CATALOG.items())}  # fmt: skip
        schemas[body] = _one_of(variants, "task_name")

    report = schemas[_component_name(ReportRequestSchema)]
    variants = {kind: _variant(spec, report, "format", kind, CATALOG[name], "Report")
                for kind, name in sorted(REPORT_TASKS.items())}  # fmt: skip
    schemas[_component_name(ReportRequestSchema)] = _one_of(variants, "format")


def _variant(
    spec: APISpec, envelope: dict[str, Any], key: str, value: str, task: TaskSpec, kind: str
) -> str:
    """The envelope with `key` fixed to `value` and the task's params schema, named
    `<Task><kind>Request`; its $ref."""
    params = f"{_camel(task.name)}Params"
    if params not in spec.components.schemas:
        spec.components.schema(params, schema=task.params_schema)
    name = f"{_camel(task.name)}{kind}Request"
    properties = {
        **envelope["properties"],
        key: {"type": "string", "enum": [value]},
        "params": {"$ref": f"#/components/schemas/{params}"},
    }
    body = {
        **envelope,
        "properties": properties,
        "required": sorted({*envelope.get("required", []), key}),
    }
    spec.components.schemas[name] = body
    return f"#/components/schemas/{name}"


def _one_of(variants: dict[str, str], key: str) -> dict[str, Any]:
    return {
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": key, "mapping": variants},
    }


def _component_name(schema: type) -> str:
    return schema.__name__.removesuffix("Schema")


def _camel(task_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", task_name))
