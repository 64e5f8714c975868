"""/api/tasks: enqueue, read, list, count, cancel, history and the report artifact."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView

from offload_api.auth import RETRY_AFTER, requires, tenant
from offload_api.disposition import attachment
from offload_api.json_codec import Blueprint
from offload_api.schemas import (
    BatchEnqueuedSchema,
    BatchEnqueueRequestSchema,
    CountSchema,
    EnqueueRequestSchema,
    TaskEventListSchema,
    TaskFilterSchema,
    TaskListQuerySchema,
    TaskListSchema,
    TaskSchema,
    task_filter,
)
from offload_api.services import services
from offload_api.stream import MIMETYPE, event_stream, task_check
from offload_api.submit import enqueue_batch, enqueue_request
from offload_shared.enqueue import publish
from offload_shared.errors import ArtifactNotFound
from offload_shared.models import Task, TaskStatus

blp = Blueprint("tasks", __name__, url_prefix="/api/tasks", description="Background tasks")
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Same key and body within 48 h: the first response, no new task",
}


@blp.route("/enqueue")
class Enqueue(MethodView):
    @requires("enqueue")
    @blp.arguments(EnqueueRequestSchema())
    @blp.response(202, TaskSchema)
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    def post(self, req: dict[str, Any]) -> Task | Response:
        """Validate a task request, record it as pending and publish it to its queue."""
        return enqueue_request(req)


@blp.route("/enqueue/batch")
class EnqueueBatch(MethodView):
    @requires("enqueue")
    @blp.arguments(BatchEnqueueRequestSchema())
    @blp.response(202, BatchEnqueuedSchema)
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    def post(self, req: dict[str, Any]) -> dict[str, Any] | Response:
        """Validate up to 1,000 task requests and record them all, or none: one invalid task
        is a 422 naming its index and field. Published in one round trip."""
        return enqueue_batch(req["tasks"])


@blp.route("/")
class TaskList(MethodView):
    @requires("read")
    @blp.arguments(TaskListQuerySchema(), location="query")
    @blp.response(200, TaskListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the tenant's tasks, newest first, filtered by status, task_type, task_name,
        queue, creation time (created_after, created_before) or the start of the id."""
        store = services().store
        where = task_filter(args)
        return {
            "items": store.find(tenant(), where, limit=args["limit"], offset=args["offset"]),
            "total": store.count(tenant(), where),
            "limit": args["limit"],
            "offset": args["offset"],
        }


@blp.route("/count/all")
class TaskCount(MethodView):
    @requires("read")
    @blp.arguments(TaskFilterSchema(), location="query")
    @blp.response(200, CountSchema)
    def get(self, args: dict[str, Any]) -> dict[str, int]:
        """Count the tenant's tasks matching the filters."""
        return {"count": services().store.count(tenant(), task_filter(args))}


@blp.route("/<uuid:task_id>")
class TaskDetail(MethodView):
    @requires("read")
    @blp.response(200, TaskSchema)
    def get(self, task_id: uuid.UUID) -> Task:
        """The whole task record: params, result, error, retries and timestamps."""
        return services().store.get(tenant(), task_id)


@blp.route("/<uuid:task_id>/events")
class TaskEvents(MethodView):
    @requires("read")
    @blp.response(200, TaskEventListSchema)
    def get(self, task_id: uuid.UUID) -> dict[str, Any]:
        """The task's history: one entry per transition, oldest first."""
        return {"items": services().store.events(tenant(), task_id)}


@blp.route("/<uuid:task_id>/cancel")
class TaskCancel(MethodView):
    @requires("enqueue")
    @blp.response(200, TaskSchema, description="The pending task is now cancelled")
    @blp.alt_response(202, schema=TaskSchema, description="The running task will stop")
    @blp.alt_response(409, description="The task already finished")
    def post(self, task_id: uuid.UUID) -> tuple[Task, int]:
        """Cancel a task: a pending one never runs; a running one stops at its next checkpoint."""
        task = cancel_task(tenant(), task_id)
        return task, 202 if task.status is TaskStatus.RUNNING else 200


@blp.route("/<uuid:task_id>/retry")
class TaskRetry(MethodView):
    @requires("enqueue")
    @blp.response(202, TaskSchema)
    @blp.alt_response(409, description="Only a failed or cancelled task can be retried")
    def post(self, task_id: uuid.UUID) -> Task:
        """Send a failed or cancelled task round again; its history keeps every attempt."""
        return retry_task(tenant(), task_id)


# One server-sent event, as a client's parser sees it (`data` is the task's JSON, a string);
# the example is the stream on the wire.
STREAM_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["task"]},
        "data": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "example": 'retry: 2000\n\nevent: task\ndata: {"id": "3f0c...", "status": "running", '
    '"progress": 40, "attempts": 1, "retry_count": 0, "error_message": null, '
    '"cancel_requested": false, "started_at": "...", "completed_at": null}\n\n',
}


@blp.route("/<uuid:task_id>/stream")
class TaskStream(MethodView):
    @requires("read")
    @blp.response(
        200,
        description=(
            "Server-sent events (text/event-stream): an event `task` with the task's status, "
            "progress, attempts, error_message and cancel_requested at once and whenever they "
            "change (checked every 0.5 s), a comment every 15 s, and the end of the stream "
            "once the task has finished"
        ),
        content_type=MIMETYPE,
    )
    @blp.doc(responses={"200": {"content": {MIMETYPE: {"schema": STREAM_SCHEMA}}}})
    @blp.alt_response(
        503,
        description="The process serves OFFLOAD_API_STREAMS streams already",
        headers={"Retry-After": RETRY_AFTER},
    )
    def get(self, task_id: uuid.UUID) -> Response:
        """Follow a task's status and progress as they change, until it finishes."""
        svc = services()
        svc.store.get(tenant(), task_id)  # another tenant's task: 404 before any stream
        return event_stream(svc.streams, task_check(svc.store, tenant(), task_id))


@blp.route("/<uuid:task_id>/artifact")
class TaskArtifact(MethodView):
    @requires("read")
    @blp.response(200, description="The file the task produced (e.g. an .xlsx report)")
    def get(self, task_id: uuid.UUID) -> Response:
        """Download the file a report task produced."""
        return artifact_response(tenant(), task_id)


# What the API's views and the dashboard's (ui/) both do.


def cancel_task(tenant: str, task_id: uuid.UUID) -> Task:
    """A pending task is cancelled and taken out of its queue; a running one gets a cancel
    request; a finished one is a TaskConflict."""
    svc = services()
    task = svc.store.cancel(tenant, task_id)
    if task.status is TaskStatus.CANCELLED:
        svc.publisher.retract(task)  # out of its queue or delay set at once
    return task


def retry_task(tenant: str, task_id: uuid.UUID) -> Task:
    """A failed or cancelled task goes round again (published); otherwise a TaskConflict."""
    svc = services()
    task = svc.store.resubmit(tenant, task_id)
    publish(svc.publisher, [task])
    return task


def artifact_response(tenant: str, task_id: uuid.UUID) -> Response:
    """The task's file as a download, streamed chunk by chunk; ArtifactNotFound if none."""
    store = services().artifacts
    artifact = store.find(tenant, task_id)
    if artifact is None:
        raise ArtifactNotFound(f"task {task_id} has no artifact")
    return Response(
        store.read(artifact),
        mimetype=artifact.content_type,
        headers={
            "Content-Disposition": attachment(artifact.filename),
            "Content-Length": str(artifact.size_bytes),
            "ETag": f'"{artifact.sha256}"',
        },
    )
