"""Seed 004's analytics endpoints: POST /api/analytics/sync (a thin wrapper over the one enqueue
path) and the latest analytics snapshots."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.schemas import LatestSnapshotsSchema, SnapshotSchema, SyncRequestSchema, TaskSchema
from offload_api.services import services
from offload_api.submit import enqueue_request
from offload_shared import snapshots
from offload_shared.errors import SnapshotNotFound
from offload_shared.models import Task

blp = Blueprint("analytics", __name__, url_prefix="/api/analytics", description="Analytics")


@blp.route("/sync")
class Sync(MethodView):
    @requires("enqueue")
    @blp.arguments(SyncRequestSchema())
    @blp.response(202, TaskSchema)
    def post(self, req: dict[str, Any]) -> Task | Response:
        """Sync metrics from an HTTP source (analytics.sync_metrics)."""
        return enqueue_request(req)


@blp.route("/")
class Latest(MethodView):
    @requires("read")
    @blp.response(200, LatestSnapshotsSchema)
    def get(self) -> dict[str, Any]:
        """The latest snapshot of each kind (null where none was computed yet)."""
        db = services().db
        return {
            "snapshots": {k: snapshots.latest_snapshot(db, tenant(), k) for k in snapshots.KINDS}
        }


@blp.route("/<any(dashboard, task_trends, failure_breakdown):kind>")
class LatestOfKind(MethodView):
    @requires("read")
    @blp.response(200, SnapshotSchema)
    def get(self, kind: str) -> snapshots.Snapshot:
        """The latest snapshot of one kind: dashboard, task_trends or failure_breakdown."""
        snapshot = snapshots.latest_snapshot(services().db, tenant(), kind)
        if snapshot is None:
            raise SnapshotNotFound(f"no {kind} snapshot yet; enqueue the task that computes it")
        return snapshot
