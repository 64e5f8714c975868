"""The HTTP contract, through Flask's test client, against real Postgres and Redis."""

import json
import uuid

import pytest

from offload_shared.apikeys import create_key
from offload_shared.store import TaskFilter, TaskStore
from tests.conftest import wait_for
from tests.queues import delayed_ids, message_ids, ready_ids

EMAIL = {
    "task_name": "email.send_notification",
    "params": {"to": ["a@example.com"], "subject": "Hi", "body": "Hello"},
}


def queued_ids(redis_client, queue):
    return set(ready_ids(redis_client, queue))


def rows(db, tenant):
    return TaskStore(db).count(tenant, TaskFilter())


def test_enqueue_records_pending_task_and_publishes_its_message(client, redis_client, db, tenant):
    response = client.post("/api/tasks/enqueue", json={**EMAIL, "priority": 9, "max_retries": 5})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["priority"], body["max_retries"]) == ("pending", 9, 5)
    assert body["task_type"] == "email"
    assert queued_ids(redis_client, "email") == {body["task_id"]}
    assert TaskStore(db).get(tenant, uuid.UUID(body["task_id"])).params == EMAIL["params"]


def test_get_returns_the_whole_record(client):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    body = client.get(f"/api/tasks/{task_id}").get_json()
    for field in (
        "params",
        "result",
        "error_message",
        "retry_count",
        "max_retries",
        "created_at",
        "started_at",
        "completed_at",
        "progress",
    ):
        assert field in body
    assert body["params"] == EMAIL["params"]
    assert body["waiting"] is None


def test_a_task_held_back_by_a_limit_says_why_until_it_is_claimed(client, db):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    store = TaskStore(db)
    store.note_waiting([(task_id, "rate_limit")])  # as a worker's consumer records it
    body = client.get(f"/api/tasks/{task_id}").get_json()
    assert (body["status"], body["waiting"]) == ("pending", "rate_limit")
    assert store.claim(uuid.UUID(task_id)) is not None
    assert client.get(f"/api/tasks/{task_id}").get_json()["waiting"] is None


@pytest.mark.parametrize(
    ("request_kwargs", "code", "named"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "json"),
        ({"json": {"task_name": "email.nope"}}, 422, "task_name"),
        ({"json": {**EMAIL, "params": {"to": "x", "subject": "s", "body": "b"}}}, 422, "to"),
        (
            {"json": {**EMAIL, "params": {**EMAIL["params"], "subject": "a\nBcc: b@c.d"}}},
            422,
            "subject",
        ),
        ({"json": {**EMAIL, "priority": 11}}, 422, "priority"),
        ({"json": {**EMAIL, "task_type": "report"}}, 422, "task_type"),
        (
            {
                "data": json.dumps({**EMAIL, "pad": "x" * 2_000_000}),
                "content_type": "application/json",
            },
            413,
            None,
        ),
    ],
    ids=[
        "malformed-json",
        "unknown-task",
        "bad-address",
        "crlf-subject",
        "priority-range",
        "wrong-task-type",
        "oversized-body",
    ],
)
def test_bad_input_gets_its_error_and_stores_nothing(
    client, redis_client, db, tenant, request_kwargs, code, named
):
    response = client.post("/api/tasks/enqueue", **request_kwargs)
    assert response.status_code == code
    body = response.get_json()
    assert body["code"] == code
    assert body["status"]
    if named:
        assert named in json.dumps(body["errors"])
    assert rows(db, tenant) == 0
    assert queued_ids(redis_client, "email") == set()


@pytest.mark.parametrize("header", [None, "Bearer ofk_wrong", "Basic abc", "Bearer "])
def test_missing_or_bad_key_is_401_and_stores_nothing(app, db, tenant, header):
    headers = {"Authorization": header} if header else {}
    response = app.test_client().post("/api/tasks/enqueue", json=EMAIL, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["code"] == 401
    assert rows(db, tenant) == 0


def test_another_tenant_gets_404_not_403(app, client, db):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    other = app.test_client()
    other_key = create_key(db, f"other-{uuid.uuid4().hex[:8]}")
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {other_key}"
    assert other.get(f"/api/tasks/{task_id}").status_code == 404
    assert other.get(f"/api/tasks/{task_id}/events").status_code == 404
    assert other.post(f"/api/tasks/{task_id}/cancel").status_code == 404
    assert other.get("/api/tasks/count/all").get_json() == {"count": 0}
    assert other.get("/api/tasks/").get_json()["items"] == []
    assert client.get(f"/api/tasks/{task_id}").get_json()["status"] == "pending"


def test_list_filters_pages_and_caps_limit(client):
    for _ in range(3):
        client.post("/api/tasks/enqueue", json=EMAIL)
    client.post("/api/tasks/enqueue", json={"task_name": "analytics.update_dashboard"})

    page = client.get("/api/tasks/?task_type=email&limit=2&offset=0").get_json()
    assert (len(page["items"]), page["total"], page["limit"]) == (2, 3, 2)
    assert {t["task_type"] for t in page["items"]} == {"email"}
    assert client.get("/api/tasks/?status=pending").get_json()["total"] == 4
    assert client.get("/api/tasks/?limit=201").status_code == 422
    assert client.get("/api/tasks/?status=bogus").status_code == 422
    assert client.get("/api/tasks/count/all?task_type=analytics").get_json() == {"count": 1}
    assert client.get("/api/tasks/count/all?status=completed").get_json() == {"count": 0}


def test_cancel_pending_then_conflict(client):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    cancelled = client.post(f"/api/tasks/{task_id}/cancel")
    assert (cancelled.status_code, cancelled.get_json()["status"]) == (200, "cancelled")
    again = client.post(f"/api/tasks/{task_id}/cancel")
    assert again.status_code == 409
    events = client.get(f"/api/tasks/{task_id}/events").get_json()["items"]
    assert [e["status"] for e in events] == ["pending", "cancelled"]


def test_cancel_running_answers_202_with_the_request_recorded(client, db, tenant):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    TaskStore(db).claim(uuid.UUID(task_id))
    response = client.post(f"/api/tasks/{task_id}/cancel")
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "running"
    assert body["cancel_requested_at"] is not None


def test_unknown_task_id_is_404_in_the_error_shape(client):
    response = client.get(f"/api/tasks/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_redis_down_still_accepts_and_keeps_the_task_in_the_outbox(make_api, db, tenant, api_key):
    client = make_api(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    response = client.post(
        "/api/tasks/enqueue", json=EMAIL, headers={"Authorization": f"Bearer {api_key}"}
    )
    assert response.status_code == 202
    task_id = uuid.UUID(response.get_json()["task_id"])
    assert TaskStore(db).get(tenant, task_id).status == "pending"
    assert db.fetch_one("SELECT 1 AS x FROM offload.outbox WHERE task_id = %(id)s", {"id": task_id})
    ready = client.get("/readyz")  # still ready: tasks wait in the outbox
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "degraded"
    assert ready.get_json()["checks"]["postgres"] == "ok"
    assert ready.get_json()["checks"]["redis"] != "ok"


def test_a_published_task_has_its_outbox_row_swept_off_the_request_path(client, db):
    task_id = uuid.UUID(client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"])
    wait_for(
        lambda: (
            db.fetch_one(
                "SELECT 1 AS x FROM offload.outbox WHERE task_id = %(id)s", {"id": task_id}
            )
            is None
        ),
        timeout=5,
    )


def test_probes_and_docs_need_no_key(app):
    c = app.test_client()
    assert c.get("/healthz").status_code == 200
    assert c.get("/readyz").get_json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok"},
    }
    spec = c.get("/openapi.json").get_json()
    assert "/api/tasks/enqueue" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert c.get("/docs").status_code == 200


def test_artifact_of_a_task_without_one_is_404(client):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    response = client.get(f"/api/tasks/{task_id}/artifact")
    assert response.status_code == 404
    assert "no artifact" in response.get_json()["message"]


def test_another_tenant_cannot_download_an_artifact(app, client, db, tenant):
    from datetime import timedelta

    from offload_shared.artifacts import PostgresArtifacts

    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    task = TaskStore(db).get(tenant, uuid.UUID(task_id))
    PostgresArtifacts(db, ttl=timedelta(days=1)).save(
        task, filename="r.pdf", content_type="application/pdf", content=b"%PDF-1.4 x" * 300_000
    )
    owner = client.get(f"/api/tasks/{task_id}/artifact")
    assert owner.status_code == 200
    assert owner.headers["Content-Length"] == str(3_000_000)
    assert owner.data == b"%PDF-1.4 x" * 300_000  # three 1 MiB chunks, streamed back in order
    other = app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = (
        f"Bearer {create_key(db, f'o-{uuid.uuid4().hex[:8]}')}"
    )
    assert other.get(f"/api/tasks/{task_id}/artifact").status_code == 404


def test_idempotency_key_replays_the_first_answer_and_creates_nothing_more(client, db, tenant):
    headers = {"Idempotency-Key": "signup-ada-1"}
    first = client.post("/api/tasks/enqueue", json=EMAIL, headers=headers)
    again = client.post("/api/tasks/enqueue", json=EMAIL, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert rows(db, tenant) == 1


def test_idempotency_key_with_another_body_is_422(client, db, tenant):
    headers = {"Idempotency-Key": "k-1"}
    client.post("/api/tasks/enqueue", json=EMAIL, headers=headers)
    other = {**EMAIL, "params": {**EMAIL["params"], "subject": "Other"}}
    response = client.post("/api/tasks/enqueue", json=other, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]["headers"]
    assert rows(db, tenant) == 1


def test_a_malformed_idempotency_key_is_422_and_stores_nothing(client, db, tenant):
    response = client.post("/api/tasks/enqueue", json=EMAIL, headers={"Idempotency-Key": "a b"})
    assert response.status_code == 422
    assert rows(db, tenant) == 0


def test_retry_endpoint_requeues_a_failed_task_and_refuses_others(client, db, tenant, redis_client):
    task_id = client.post("/api/tasks/enqueue", json=EMAIL).get_json()["task_id"]
    assert client.post(f"/api/tasks/{task_id}/retry").status_code == 409  # still pending
    store = TaskStore(db)
    store.fail(store.claim(uuid.UUID(task_id)), "SMTP 554 rejected")
    redis_client.flushdb()
    response = client.post(f"/api/tasks/{task_id}/retry")
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    assert queued_ids(redis_client, "email") == {task_id}


def test_delay_seconds_is_recorded_and_the_message_waits_in_the_delay_queue(client, redis_client):
    body = client.post("/api/tasks/enqueue", json={**EMAIL, "delay_seconds": 600}).get_json()
    assert body["next_attempt_at"] is not None
    assert queued_ids(redis_client, "email") == set()
    assert delayed_ids(redis_client, "email") == {body["task_id"]}


def batch(*tasks):
    return {"tasks": list(tasks)}


def test_a_batch_is_recorded_in_order_and_published_in_one_go(client, redis_client, db, tenant):
    bodies = [
        {**EMAIL, "priority": 9},
        {"task_name": "analytics.update_dashboard"},
        {**EMAIL, "delay_seconds": 600},
    ]
    response = client.post("/api/tasks/enqueue/batch", json=batch(*bodies))
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["count"] == 3
    names = [t["task_name"] for t in answer["tasks"]]
    assert names == ["email.send_notification", "analytics.update_dashboard", names[0]]
    assert [t["priority"] for t in answer["tasks"]] == [9, 2, 3]
    ids = [t["task_id"] for t in answer["tasks"]]
    assert ready_ids(redis_client, "email") == [ids[0]]
    assert ready_ids(redis_client, "analytics") == [ids[1]]
    assert delayed_ids(redis_client, "email") == {ids[2]}
    assert rows(db, tenant) == 3


def test_one_bad_task_refuses_the_whole_batch_naming_its_index(client, redis_client, db, tenant):
    bodies = [EMAIL, EMAIL, {"task_name": "email.send_notification", "params": {"to": "nope"}}]
    response = client.post("/api/tasks/enqueue/batch", json=batch(*bodies, {"task_name": "x"}))
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]["tasks"]
    assert set(errors) == {"2", "3"}
    assert "to" in errors["2"]["params"]
    assert "task_name" in errors["3"]
    assert rows(db, tenant) == 0
    assert ready_ids(redis_client, "email") == []


@pytest.mark.parametrize("size", [0, 1_001])
def test_a_batch_holds_one_to_a_thousand_tasks(client, db, tenant, size):
    response = client.post("/api/tasks/enqueue/batch", json=batch(*[EMAIL] * size))
    assert response.status_code == 422
    assert "tasks" in response.get_json()["errors"]["json"]
    assert rows(db, tenant) == 0


def test_a_batch_with_an_idempotency_key_is_created_once(client, db, tenant):
    headers = {"Idempotency-Key": "nightly-2026-12-01"}
    first = client.post("/api/tasks/enqueue/batch", json=batch(EMAIL, EMAIL), headers=headers)
    again = client.post("/api/tasks/enqueue/batch", json=batch(EMAIL, EMAIL), headers=headers)
    other = client.post("/api/tasks/enqueue/batch", json=batch(EMAIL), headers=headers)
    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 422)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert rows(db, tenant) == 2


def test_cancelling_a_delayed_task_takes_its_message_out_of_the_delay_set(client, redis_client):
    body = client.post("/api/tasks/enqueue", json={**EMAIL, "delay_seconds": 600}).get_json()
    assert delayed_ids(redis_client, "email") == {body["task_id"]}
    cancel = client.post(f"/api/tasks/{body['task_id']}/cancel")
    assert cancel.get_json()["status"] == "cancelled"
    assert delayed_ids(redis_client, "email") == set()
    assert message_ids(redis_client, "email") == set()
