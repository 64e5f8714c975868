"""A team's own task, declared the way the README's "Your own tasks" shows."""

from marshmallow import Schema, fields, validate

from offload_shared.catalog import TaskSpec, register
from offload_shared.params import SINGLE_LINE, JsonInteger


class ResizeParams(Schema):
    image_id = fields.String(required=True, validate=[validate.Length(1, 100), SINGLE_LINE])
    width = JsonInteger(required=True, validate=validate.Range(1, 10_000))  # never 5.5 or "5"


RESIZE = register(
    TaskSpec(
        name="acme.resize_image",
        category="images",
        queue="images",
        params_schema=ResizeParams,
        default_priority=6,
        default_max_retries=2,
        time_limit_ms=30_000,
        description="Resize an image to a width.",
    )
)
