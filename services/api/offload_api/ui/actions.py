"""The dashboard's actions: plain HTML forms that POST with the session's CSRF token and then
redirect back (so they work without JavaScript). Retry and cancel need `enqueue`, schedule
actions `admin`, as in the JSON API; each calls the same function the API's view does."""

from __future__ import annotations

import uuid
from typing import Literal

from flask import redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from offload_api import schedules, tasks
from offload_api.auth import requires, tenant
from offload_api.services import services
from offload_api.ui import filters, session
from offload_api.ui.blueprint import blp
from offload_shared import operations
from offload_shared.errors import InvalidRequest
from offload_shared.models import TaskStatus

BULK_LIMIT = 5_000  # tasks changed per confirmation; a larger set takes more than one
ACTIONS: tuple[Literal["retry", "cancel"], ...] = ("retry", "cancel")


@blp.before_request
def _csrf() -> None:
    """Every POST under /ui but the login form (which has no session yet, and checks its
    origin) carries the session's CSRF token."""
    if request.method == "POST" and request.endpoint not in ("ui.login", "ui.logout"):
        session.check_csrf()


def _back_to_task(task_id: uuid.UUID, notice: str) -> Response:
    return redirect(url_for("ui.task_detail", task_id=task_id, notice=notice), 303)


@blp.post("/tasks/<uuid:task_id>/retry")
@requires("enqueue")
def retry(task_id: uuid.UUID) -> Response:
    tasks.retry_task(tenant(), task_id)
    return _back_to_task(task_id, "retried")


@blp.post("/tasks/<uuid:task_id>/cancel")
@requires("enqueue")
def cancel(task_id: uuid.UUID) -> Response:
    task = tasks.cancel_task(tenant(), task_id)
    done = "cancel-requested" if task.status is TaskStatus.RUNNING else "cancelled"
    return _back_to_task(task_id, done)


@blp.post("/tasks/bulk")
@requires("enqueue")
def bulk() -> str:
    """Retry or cancel every task the list's filter matches: first a confirmation page with
    how many (a dry run), then, once confirmed, up to BULK_LIMIT of them."""
    action = request.form.get("action", "")
    if action not in ACTIONS:
        raise InvalidRequest("action: must be retry or cancel")
    query = filters.parse(request.form)
    svc = services()
    confirmed = request.form.get("confirm") == "yes"
    result = operations.bulk_apply(
        svc.store, svc.publisher, tenant(), action, query.where,  # type: ignore[arg-type]
        dry_run=not confirmed, limit=BULK_LIMIT,
    )  # fmt: skip
    return render_template(
        "bulk.html", action=action, query=query, result=result, confirmed=confirmed,
        limit=BULK_LIMIT,
    )  # fmt: skip


def _back_to_schedules(notice: str) -> Response:
    return redirect(url_for("ui.schedule_list", notice=notice), 303)


@blp.post("/schedules/<uuid:schedule_id>/pause")
@requires("admin")
def pause(schedule_id: uuid.UUID) -> Response:
    schedules.set_enabled(tenant(), schedule_id, False)
    return _back_to_schedules("paused")


@blp.post("/schedules/<uuid:schedule_id>/resume")
@requires("admin")
def resume(schedule_id: uuid.UUID) -> Response:
    schedules.set_enabled(tenant(), schedule_id, True)
    return _back_to_schedules("resumed")


@blp.post("/schedules/<uuid:schedule_id>/run-now")
@requires("admin")
def run_now(schedule_id: uuid.UUID) -> Response:
    try:
        schedules.run_now(tenant(), schedule_id)
    except ValidationError as err:
        named = ", ".join(sorted(map(str, err.messages_dict)))
        raise InvalidRequest(f"the params no longer validate against the task ({named})") from None
    return _back_to_schedules("ran")
