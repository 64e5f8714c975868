"""The benchmarks' task, `bench.noop`, declared the way a team declares a task of its own.

A catalog entry registered in a module of its own (the API loads it from OFFLOAD_TASK_MODULES)
and its actor in the worker's module (noop_actors.py). It does nothing; its params carry the
time it was enqueued, so a benchmark can measure enqueue -> completed from Postgres.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from offload_shared.catalog import TaskSpec, register


class NoopParams(Schema):
    t = fields.Integer(load_default=0, metadata={"description": "time.time_ns() at enqueue"})


NOOP = register(
    TaskSpec(
        name="bench.noop",
        category="bench",
        queue="bench",
        params_schema=NoopParams,
        default_priority=5,
        default_max_retries=3,
        time_limit_ms=60_000,
        description="Does nothing: the benchmarks' task.",
    )
)
