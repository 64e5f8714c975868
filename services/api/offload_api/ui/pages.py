"""The dashboard's pages (GET, `read` scope): overview, tasks, one task, workers, schedules, and
the two event streams its script follows. Every figure comes from operations.py or the stores,
for the session's tenant only."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import Response, render_template, request

from offload_api.auth import requires, tenant
from offload_api.services import services
from offload_api.stream import event_stream, task_check
from offload_api.tasks import artifact_response
from offload_api.ui import charts, filters
from offload_api.ui.blueprint import blp
from offload_shared import operations
from offload_shared.catalog import CATALOG, QUEUES
from offload_shared.errors import InvalidRequest
from offload_shared.masking import masked_params
from offload_shared.models import TaskStatus
from offload_shared.schedules import ScheduleStore

COUNT_CAP = 10_000  # the task list counts up to this and then says "10,000+"
SCHEDULES_PER_PAGE = 100
WINDOWS = (  # the overview's charts: (label, over, bucket)
    ("last hour", timedelta(hours=1), timedelta(minutes=5)),
    ("last day", timedelta(days=1), timedelta(hours=1)),
)
NOTICES = {  # what an action redirects back with (?notice=...): fixed texts, nothing echoed
    "retried": "The task was sent round again.",
    "cancelled": "The task was cancelled.",
    "cancel-requested": "The task was asked to stop; it stops at its next checkpoint.",
    "paused": "The schedule is paused.",
    "resumed": "The schedule fires again from now on.",
    "ran": "The schedule fired once now.",
}


def notice() -> str | None:
    return NOTICES.get(request.args.get("notice", ""))


def _buckets(rows: list[operations.ThroughputBucket], queue: str | None) -> list[charts.Bucket]:
    """The throughput rows summed over queues (or of one queue), one bucket per start."""
    done: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if queue is None or row.queue == queue:
            done[row.start][0] += row.completed
            done[row.start][1] += row.failed
    return [charts.Bucket(start, c, f) for start, (c, f) in sorted(done.items())]


@blp.get("/")
@requires("read")
def overview() -> str:
    svc = services()
    queue = request.args.get("queue") or None
    stats = operations.queue_stats(svc.db, tenant())
    known = {s.queue for s in stats} | QUEUES
    if queue is not None and queue not in known:
        raise InvalidRequest("queue: not a queue of this deployment")
    drawn = []
    for label, over, bucket in WINDOWS:
        rows = operations.throughput(svc.db, tenant(), since=over, bucket=bucket)
        buckets = _buckets(rows, queue)
        scope = f"{queue} queue" if queue else "all queues"
        drawn.append(
            {
                "label": label,
                "completed": sum(b.completed for b in buckets),
                "failed": sum(b.failed for b in buckets),
                "throughput": charts.throughput_chart(
                    f"Tasks finished per {_per(bucket)}, {label}, {scope}", buckets
                ),
                "failure_rate": charts.failure_rate_chart(
                    f"Failure rate per {_per(bucket)}, {label}, {scope}", buckets
                ),
            }
        )
    return render_template(
        "overview.html", stats=stats, windows=drawn, queue=queue, queues=sorted(known)
    )


def _per(bucket: timedelta) -> str:
    minutes = int(bucket.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 60 else f"{minutes // 60} hour"


@blp.get("/tasks")
@requires("read")
def task_list() -> str:
    store = services().store
    query = filters.parse(request.args)
    items = store.find(tenant(), query.where, limit=filters.PAGE_SIZE, offset=query.offset)
    total = store.count(tenant(), query.where, cap=COUNT_CAP)
    context = {
        "items": items,
        "query": query,
        "total": total,
        "capped": total >= COUNT_CAP,
        "pages": -(-total // filters.PAGE_SIZE),
        "statuses": [s.value for s in TaskStatus],
        "queues": sorted(QUEUES | {t.queue for t in CATALOG.values()}),
        "task_names": sorted(CATALOG),
        "page_size": filters.PAGE_SIZE,
        "max_page": filters.MAX_PAGE,
        "notice": notice(),
    }
    if request.args.get("fragment") == "rows":  # the live refresh (ui.js) swaps the table
        return render_template("_task_rows.html", **context)
    return render_template("tasks.html", **context)


@blp.get("/tasks/<uuid:task_id>")
@requires("read")
def task_detail(task_id: uuid.UUID) -> str:
    svc = services()
    task = svc.store.get(tenant(), task_id)
    return render_template(
        "task.html",
        task=task,
        params=masked_params(task.task_name, task.params),
        result=masked_params(task.task_name, task.result),
        events=svc.store.events(tenant(), task_id),
        artifact=svc.artifacts.find(tenant(), task_id),
        notice=notice(),
    )


@blp.get("/tasks/<uuid:task_id>/stream")
@requires("read")
def task_stream(task_id: uuid.UUID) -> Response:
    """The task page's live status and progress: the stream GET /api/tasks/{id}/stream sends."""
    svc = services()
    svc.store.get(tenant(), task_id)
    return event_stream(svc.streams, task_check(svc.store, tenant(), task_id))


@blp.get("/tasks/<uuid:task_id>/artifact")
@requires("read")
def task_artifact(task_id: uuid.UUID) -> Response:
    return artifact_response(tenant(), task_id)


@blp.get("/events/stream")
@requires("read")
def tenant_stream() -> Response:
    """The task list's live refresh: an event `changed` (with how many transitions) whenever
    any of the tenant's tasks moved; the page then fetches its rows again."""
    svc = services()
    owner = tenant()
    cursor = [operations.latest_event_id(svc.db)]

    def check() -> tuple[tuple[str, Any] | None, bool]:
        found = operations.events_after(svc.db, owner, cursor[0], limit=500)
        if not found:
            return None, False
        cursor[0] = found[-1].id
        return ("changed", {"transitions": len(found), "cursor": cursor[0]}), False

    return event_stream(svc.streams, check)


@blp.get("/workers")
@requires("read")
def worker_list() -> str:
    svc = services()
    found = operations.workers(svc.db, tenant(), lost_seconds=svc.settings.worker_lost_seconds)
    return render_template("workers.html", workers=found)


@blp.get("/schedules")
@requires("read")
def schedule_list() -> str:
    store = ScheduleStore(services().db)
    query = filters.parse_page(request.args)
    items = store.find(tenant(), limit=SCHEDULES_PER_PAGE, offset=(query - 1) * SCHEDULES_PER_PAGE)
    total = store.count(tenant())
    return render_template(
        "schedules.html",
        schedules=items,
        total=total,
        page=query,
        pages=-(-total // SCHEDULES_PER_PAGE),
        notice=notice(),
    )
