"""/api/schedules: cron and interval schedules of catalog tasks, and their runs.

Reading needs `read`; creating, changing, pausing, resuming, deleting and running one now
need `admin`. A schedule belongs to its tenant: another tenant's is not found (404).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NoReturn

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import ValidationError

from offload_api import request_id
from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.schedule_schemas import (
    PageQuerySchema,
    ScheduleListSchema,
    SchedulePatchSchema,
    ScheduleRequestSchema,
    ScheduleRunListSchema,
    ScheduleRunSchema,
    ScheduleSchema,
)
from offload_api.services import services
from offload_shared.enqueue import publish
from offload_shared.schedule_firing import fire_now
from offload_shared.schedules import Schedule, ScheduleFields, ScheduleRun, ScheduleStore

blp = Blueprint(
    "schedules", __name__, url_prefix="/api/schedules", description="Cron and interval schedules"
)


CREATE_EXAMPLE = {
    "name": "nightly cleanup",
    "task_name": "cleanup.old_records",
    "params": {"days_to_keep": 90},
    "cron": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "misfire": "run_once",
}


def _store() -> ScheduleStore:
    return ScheduleStore(services().db)


def _now() -> datetime:
    return datetime.now(UTC)


def _refuse(errors: Any, message: str | None = None) -> NoReturn:
    """422 in the one error shape, naming the fields."""
    abort(422, errors=errors, **({"message": message} if message else {}))
    raise AssertionError("abort() raises")


def run_now(tenant: str, schedule_id: uuid.UUID) -> ScheduleRun:
    """Fire the schedule once now and publish its task (the API and the dashboard); params
    that no longer validate raise marshmallow's ValidationError, and nothing is enqueued."""
    svc = services()
    fired = fire_now(svc.db, tenant, schedule_id, _now(), request_id.current())
    if fired.task is not None:
        publish(svc.publisher, [fired.task])
    return fired.run


def set_enabled(tenant: str, schedule_id: uuid.UUID, enabled: bool) -> Schedule:
    """Pause (False) or resume (True) a schedule."""
    return _store().set_enabled(tenant, schedule_id, enabled, _now())


def _page(items: list[Any], total: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": args["limit"], "offset": args["offset"]}


@blp.route("")
class ScheduleList(MethodView):
    @requires("read")
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, ScheduleListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The tenant's schedules by name, each with its next and latest run."""
        store = _store()
        items = store.find(tenant(), limit=args["limit"], offset=args["offset"])
        return _page(items, store.count(tenant()), args)

    @requires("admin")
    @blp.arguments(ScheduleRequestSchema(), example=CREATE_EXAMPLE)
    @blp.response(201, ScheduleSchema)
    @blp.alt_response(409, description="The tenant has a schedule of that name")
    def post(self, fields: ScheduleFields) -> Schedule:
        """Create a schedule: a catalog task with its params (validated now and again at each
        firing), fired by a cron expression in a time zone or every N seconds."""
        return _store().create(tenant(), fields, _now())


@blp.route("/<uuid:schedule_id>")
class ScheduleDetail(MethodView):
    @requires("read")
    @blp.response(200, ScheduleSchema)
    def get(self, schedule_id: uuid.UUID) -> Schedule:
        """One schedule, with its next and latest run."""
        return _store().get(tenant(), schedule_id)

    @requires("admin")
    @blp.arguments(SchedulePatchSchema(), example={"cron": "30 3 * * *", "enabled": True})
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(409, description="The tenant has a schedule of that name")
    def patch(self, patch: dict[str, Any], schedule_id: uuid.UUID) -> Schedule:
        """Change some of a schedule's fields. The schedule they make is validated whole (its
        params against the task it then names); a new rule or time zone, or a resumed
        schedule, starts afresh from now."""

        def apply(current: ScheduleFields) -> ScheduleFields:
            try:
                return ScheduleRequestSchema().load({**asdict(current), **patch})  # type: ignore[return-value]
            except ValidationError as err:
                _refuse({"json": err.messages})

        return _store().change(tenant(), schedule_id, apply, _now())

    @requires("admin")
    @blp.response(204)
    def delete(self, schedule_id: uuid.UUID) -> None:
        """Delete a schedule and its runs; the tasks it enqueued stay."""
        _store().delete(tenant(), schedule_id)


@blp.route("/<uuid:schedule_id>/pause")
class SchedulePause(MethodView):
    @requires("admin")
    @blp.response(200, ScheduleSchema)
    def post(self, schedule_id: uuid.UUID) -> Schedule:
        """Stop firing (a no-op if paused): next_run_at becomes null."""
        return set_enabled(tenant(), schedule_id, False)


@blp.route("/<uuid:schedule_id>/resume")
class ScheduleResume(MethodView):
    @requires("admin")
    @blp.response(200, ScheduleSchema)
    def post(self, schedule_id: uuid.UUID) -> Schedule:
        """Fire again from now on (a no-op if enabled): the fire times missed while paused
        are not fired."""
        return set_enabled(tenant(), schedule_id, True)


@blp.route("/<uuid:schedule_id>/run-now")
class ScheduleRunNow(MethodView):
    @requires("admin")
    @blp.response(202, ScheduleRunSchema)
    def post(self, schedule_id: uuid.UUID) -> ScheduleRun:
        """Fire the schedule's task now, paused or not, through the same path as a scheduled
        run (a run marked `manual`); next_run_at stays as it is. Params that no longer
        validate against the task are a 422 naming the field, and nothing is enqueued."""
        try:
            return run_now(tenant(), schedule_id)
        except ValidationError as err:
            _refuse({"params": err.messages}, "the params no longer validate against the task")


@blp.route("/<uuid:schedule_id>/runs")
class ScheduleRuns(MethodView):
    @requires("read")
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, ScheduleRunListSchema)
    def get(self, args: dict[str, Any], schedule_id: uuid.UUID) -> dict[str, Any]:
        """The schedule's runs, latest fire time first: each with its task and that task's
        status, or why it enqueued none."""
        runs, total = _store().runs(
            tenant(), schedule_id, limit=args["limit"], offset=args["offset"]
        )
        return _page(runs, total, args)
