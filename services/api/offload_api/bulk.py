"""/api/tasks/bulk: retry or cancel every task of the tenant a filter matches (or count them).

Both go through operations.bulk_apply: batches of 500 ids, one set-based transition each,
published or taken out of their queues. An empty filter must say `all: true` (422 otherwise);
`limit` caps what one call changes, so a client can page through a large set and show progress.
"""

from __future__ import annotations

from typing import Any, Literal

from flask.views import MethodView
from flask_smorest import abort

from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.schemas import BulkRequestSchema, BulkResultSchema, task_filter
from offload_api.services import services
from offload_shared.operations import ACTION_STATUSES, bulk_apply

blp = Blueprint(
    "bulk", __name__, url_prefix="/api/tasks/bulk", description="Retry or cancel many tasks"
)
EXAMPLE = {"status": "failed", "queue": "email", "created_after": "2026-12-01T00:00:00Z",
           "dry_run": True}  # fmt: skip


def _apply(action: Literal["retry", "cancel"], req: dict[str, Any]) -> dict[str, Any]:
    statuses = [str(s) for s in ACTION_STATUSES[action]]
    if req.get("status") is not None and req["status"] not in statuses:
        why = f"{action} applies to {' or '.join(statuses)} tasks"
        abort(422, errors={"json": {"status": [why]}})
    svc = services()
    result = bulk_apply(
        svc.store, svc.publisher, tenant(), action, task_filter(req),
        dry_run=req["dry_run"], limit=req.get("limit"),
    )  # fmt: skip
    return {"matched": result.matched, "changed": result.changed, "dry_run": req["dry_run"]}


@blp.route("/retry")
class BulkRetry(MethodView):
    @requires("enqueue")
    @blp.arguments(BulkRequestSchema(), example=EXAMPLE)
    @blp.response(200, BulkResultSchema)
    def post(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send every failed or cancelled task the filter matches round again (with its full
        retries), or with `dry_run` count them."""
        return _apply("retry", req)


@blp.route("/cancel")
class BulkCancel(MethodView):
    @requires("enqueue")
    @blp.arguments(BulkRequestSchema(), example=EXAMPLE | {"status": "pending"})
    @blp.response(200, BulkResultSchema)
    def post(self, req: dict[str, Any]) -> dict[str, Any]:
        """Cancel every pending task the filter matches (they never run) and ask every running
        one to stop; or with `dry_run` count them."""
        return _apply("cancel", req)
