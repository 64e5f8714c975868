"""What an operator watches, for the caller's tenant: per-queue figures and throughput
(/api/stats), the worker processes (/api/workers) and the feed of transitions (/api/transitions,
a cursor for `offload tail`). All of it is operations.py's, read from Postgres."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView

from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.monitoring_schemas import (
    StatsSchema,
    TransitionFeedQuerySchema,
    TransitionFeedSchema,
    WorkerListSchema,
)
from offload_api.services import services
from offload_shared.operations import (
    events_after,
    latest_event_id,
    queue_stats,
    throughput,
    workers,
)

blp = Blueprint("monitoring", __name__, url_prefix="/api", description="Queues and workers")
WINDOW = timedelta(hours=1)
BUCKET = timedelta(minutes=1)


@blp.route("/stats")
class Stats(MethodView):
    @requires("read")
    @blp.response(200, StatsSchema)
    def get(self) -> dict[str, Any]:
        """Per queue: ready, delayed, waiting (held by a limit) and running tasks, the oldest
        ready task's age, the last hour's finished counts and its mean throughput per minute;
        and the last hour's finished tasks per minute and queue."""
        db = services().db
        buckets = throughput(db, tenant(), since=WINDOW, bucket=BUCKET)
        minutes = WINDOW / timedelta(minutes=1)
        queues = []
        for q in queue_stats(db, tenant()):
            mine = [b for b in buckets if b.queue == q.queue]
            rate = {
                "completed_per_minute": round(sum(b.completed for b in mine) / minutes, 3),
                "failed_per_minute": round(sum(b.failed for b in mine) / minutes, 3),
            }
            queues.append({**q.__dict__, "throughput": rate})
        return {
            "queues": queues,
            "throughput": buckets,
            "window_seconds": int(WINDOW.total_seconds()),
            "bucket_seconds": int(BUCKET.total_seconds()),
        }


@blp.route("/workers")
class Workers(MethodView):
    @requires("read")
    @blp.response(200, WorkerListSchema)
    def get(self) -> dict[str, Any]:
        """Every worker process: its queue, host, pid, threads, heartbeat, whether it is alive,
        and which of the tenant's tasks it runs now."""
        svc = services()
        return {"items": workers(svc.db, tenant(), lost_seconds=svc.settings.worker_lost_seconds)}


@blp.route("/transitions")
class TransitionFeed(MethodView):
    @requires("read")
    @blp.arguments(TransitionFeedQuerySchema(), location="query")
    @blp.response(200, TransitionFeedSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The tenant's task transitions after the cursor `after`, oldest first, and the cursor
        to ask with next. Without `after`: no items, and the cursor of now (what follows)."""
        db = services().db
        if "after" not in args:
            return {"items": [], "next": latest_event_id(db)}
        items = events_after(db, tenant(), args["after"], limit=args["limit"])
        return {"items": items, "next": items[-1].id if items else args["after"]}
