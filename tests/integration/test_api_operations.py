"""The operator endpoints through Flask's test client, against real Postgres and Redis:
/api/stats, /api/workers, the transitions feed /api/transitions, /api/tasks/bulk/{retry,cancel}
and the task list's new filters."""

from datetime import UTC, datetime, timedelta

import pytest

from offload_shared.models import TaskStatus
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import WorkerRuntime
from tests.conftest import create_task
from tests.queues import ready_ids


@pytest.fixture
def store(db):
    return TaskStore(db)


def finish(store, task, outcome):
    claimed = store.claim(task.id)
    if outcome == "completed":
        assert store.complete(claimed, {"ok": True}).wait()
    else:
        assert store.fail(claimed, "boom").wait()
    return claimed


def test_stats_count_each_queue_for_the_callers_tenant_with_throughput(client, store, tenant):
    create_task(store.db, tenant)
    create_task(store.db, tenant, delay_seconds=600)
    store.claim(create_task(store.db, tenant).id)
    for outcome in ("completed", "completed", "failed"):
        finish(store, create_task(store.db, tenant), outcome)
    create_task(store.db, f"{tenant}-other")

    response = client.get("/api/stats")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    queues = {q["queue"]: q for q in body["queues"]}
    assert {"email", "reports", "analytics"} <= set(queues)
    email = queues["email"]
    assert (email["ready"], email["delayed"], email["running"]) == (1, 1, 1)
    assert (email["completed_last_hour"], email["failed_last_hour"]) == (2, 1)
    assert email["throughput"] == {"completed_per_minute": 0.033, "failed_per_minute": 0.017}
    assert queues["reports"]["ready"] == 0
    assert queues["reports"]["throughput"] == {"completed_per_minute": 0, "failed_per_minute": 0}
    assert (body["window_seconds"], body["bucket_seconds"]) == (3600, 60)
    assert sum(b["completed"] for b in body["throughput"]) == 2
    assert {b["queue"] for b in body["throughput"]} == {"email"}


def test_workers_list_the_processes_with_only_the_tenants_running_tasks(client, store, db, tenant):
    runtime = WorkerRuntime(queue="email", store=store, outbox=None, threads=3)  # type: ignore[arg-type]
    db.fetch_all(
        "INSERT INTO offload.workers (id, queue, hostname, pid, threads) "
        "VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s, %(threads)s) RETURNING id",
        runtime.identity(),
    )
    mine = store.claim(create_task(db, tenant).id, runtime.id)
    store.claim(create_task(db, f"{tenant}-other").id, runtime.id)
    try:
        body = client.get("/api/workers").get_json()
        [worker] = [w for w in body["items"] if w["worker_id"] == str(runtime.id)]
        assert (worker["queue"], worker["threads"], worker["alive"]) == ("email", 3, True)
        assert [t["task_id"] for t in worker["running"]] == [str(mine.id)]
        assert worker["running"][0]["task_name"] == "email.send_notification"
    finally:
        db.fetch_all(
            "DELETE FROM offload.workers WHERE id = %(id)s RETURNING id", {"id": runtime.id}
        )


def test_the_event_feed_starts_now_and_pages_with_its_cursor(client, store, tenant):
    start = client.get("/api/transitions").get_json()
    assert start["items"] == []
    task = create_task(store.db, tenant)
    create_task(store.db, f"{tenant}-other")
    finish(store, task, "completed")

    first = client.get("/api/transitions", query_string={"after": start["next"], "limit": 2})
    assert first.status_code == 200
    page = first.get_json()
    assert [(e["task_id"], e["status"]) for e in page["items"]] == [
        (str(task.id), "pending"),
        (str(task.id), "running"),
    ]
    assert page["next"] == page["items"][-1]["event_id"]
    rest = client.get("/api/transitions", query_string={"after": page["next"]}).get_json()
    assert [e["status"] for e in rest["items"]] == ["completed"]
    assert rest["items"][0]["queue"] == "email"
    empty = client.get("/api/transitions", query_string={"after": rest["next"]}).get_json()
    assert empty == {"items": [], "next": rest["next"]}


def test_the_event_feed_refuses_a_bad_cursor_or_limit(client):
    for query in ({"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "501"}):
        response = client.get("/api/transitions", query_string=query)
        assert response.status_code == 422, query
        assert set(response.get_json()["errors"]["query"]) <= {"after", "limit"}


def test_post_to_api_events_still_fans_out(client):
    response = client.post("/api/events", json={"event": "record.finalized", "record_id": "R-1"})
    assert response.status_code == 202, response.get_json()


def test_bulk_retry_dry_run_counts_then_pages_with_a_limit(client, store, redis_client, tenant):
    failed = [finish(store, create_task(store.db, tenant), "failed") for _ in range(5)]
    finish(store, create_task(store.db, tenant), "completed")
    finish(store, create_task(store.db, f"{tenant}-other"), "failed")

    dry = client.post("/api/tasks/bulk/retry", json={"status": "failed", "dry_run": True})
    assert dry.status_code == 200, dry.get_json()
    assert dry.get_json() == {"matched": 5, "changed": 0, "dry_run": True}
    assert ready_ids(redis_client, "email") == []

    first = client.post("/api/tasks/bulk/retry", json={"status": "failed", "limit": 3}).get_json()
    assert (first["matched"], first["changed"]) == (5, 3)
    second = client.post("/api/tasks/bulk/retry", json={"status": "failed", "limit": 3}).get_json()
    assert (second["matched"], second["changed"]) == (2, 2)
    assert {store.get(tenant, t.id).status for t in failed} == {TaskStatus.PENDING}
    assert set(ready_ids(redis_client, "email")) == {str(t.id) for t in failed}


def test_bulk_cancel_takes_pending_tasks_out_and_asks_running_ones_to_stop(
    client, store, redis_broker, redis_client, tenant
):
    from tests.conftest import submit_task

    pending = [submit_task(store.db, redis_broker, tenant) for _ in range(2)]
    running = store.claim(create_task(store.db, tenant).id)
    response = client.post("/api/tasks/bulk/cancel", json={"queue": "email"})
    assert response.get_json() == {"matched": 3, "changed": 3, "dry_run": False}
    assert {store.get(tenant, t.id).status for t in pending} == {TaskStatus.CANCELLED}
    assert store.get(tenant, running.id).cancel_requested_at is not None
    assert ready_ids(redis_client, "email") == []


def test_bulk_refuses_an_empty_filter_unless_it_says_all(client, store, tenant):
    finish(store, create_task(store.db, tenant), "failed")
    empty = client.post("/api/tasks/bulk/retry", json={"dry_run": True})
    assert empty.status_code == 422
    assert "empty filter" in empty.get_json()["errors"]["json"]["all"][0]
    everything = client.post("/api/tasks/bulk/retry", json={"all": True, "dry_run": True})
    assert everything.get_json() == {"matched": 1, "changed": 0, "dry_run": True}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("retry", {"status": "pending"}, "status"),
        ("cancel", {"status": "failed"}, "status"),
        ("retry", {"status": "failed", "dry_run": "yes"}, "dry_run"),
        ("retry", {"status": "failed", "limit": 0}, "limit"),
        ("cancel", {"queue": "nowhere"}, "queue"),
        ("cancel", {"created_after": "yesterday"}, "created_after"),
        ("cancel", {"id_prefix": "zz"}, "id_prefix"),
    ],
)
def test_bulk_names_the_bad_field(client, path, body, field):
    response = client.post(f"/api/tasks/bulk/{path}", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]


def test_bulk_needs_the_enqueue_scope(app, db, tenant):
    from offload_shared.apikeys import create_key

    reader = app.test_client()
    reader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(db, tenant, scopes=['read'])}"
    response = reader.post("/api/tasks/bulk/cancel", json={"all": True})
    assert response.status_code == 403


def test_the_task_list_filters_by_queue_creation_time_and_id_prefix(client, store, tenant):
    email = create_task(store.db, tenant)
    report = create_task(
        store.db, tenant, "reports.generate_excel",
        {"report_name": "r", "task_history": {"status": "failed"}},
    )  # fmt: skip

    def ids(**query):
        response = client.get("/api/tasks/", query_string=query)
        assert response.status_code == 200, response.get_json()
        return [t["task_id"] for t in response.get_json()["items"]]

    assert ids(queue="reports") == [str(report.id)]
    assert ids(id_prefix=str(email.id)[:8].upper()) == [str(email.id)]
    later = (report.created_at + timedelta(seconds=1)).isoformat()
    assert ids(created_after=later) == []
    assert set(ids(created_before=later)) == {str(email.id), str(report.id)}
    assert ids(created_after=email.created_at.isoformat(), created_before=later, queue="email") == [
        str(email.id)
    ]
    count = client.get("/api/tasks/count/all", query_string={"queue": "email"}).get_json()
    assert count == {"count": 1}
    naive = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    assert ids(created_after=naive.isoformat()) == []  # no offset: UTC
    bad = client.get("/api/tasks/", query_string={"id_prefix": "xyz", "queue": "nowhere"})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["query"]) == {"id_prefix", "queue"}


def test_the_openapi_document_shows_the_operator_endpoints(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/api/events"]) == {"post"}  # the fan-out; the feed has a path of its own
    for path in ("/api/stats", "/api/workers", "/api/transitions"):
        assert paths[path]["get"]["x-offload-scope"] == "read"
    for action in ("retry", "cancel"):
        assert paths[f"/api/tasks/bulk/{action}"]["post"]["x-offload-scope"] == "enqueue"
    params = {p["name"] for p in paths["/api/tasks/"]["get"]["parameters"]}
    assert {"queue", "created_after", "created_before", "id_prefix"} <= params


def test_a_feed_cursor_beyond_a_bigint_is_a_422_naming_it(client):
    response = client.get("/api/transitions?after=23749843034488905728")  # found by schemathesis
    assert response.status_code == 422
    assert "after" in response.get_data(as_text=True)
