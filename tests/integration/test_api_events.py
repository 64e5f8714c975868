"""Event fan-out and seed 004's shortcut endpoints, over the test client with real services."""

import uuid

from offload_shared import snapshots
from offload_shared.apikeys import KeyResolver, _Cached, hash_key
from offload_shared.store import TaskFilter, TaskStore


def task(db, tenant, task_id):
    return TaskStore(db).get(tenant, uuid.UUID(task_id))


def test_record_completed_creates_email_report_and_dashboard(client, db, tenant):
    response = client.post(
        "/api/events",
        json={
            "event": "record.completed",
            "record_id": "FIR-7",
            "recipient_email": "a@example.com",
            "record_title": "FIR",
            "record_summary": {"station": "Central", "items": 3},
        },
    )
    assert response.status_code == 202
    body = response.get_json()
    assert (body["failed"], body["skipped"]) == ({}, {})
    assert set(body["tasks"]) == {"email", "report", "analytics"}
    email = task(db, tenant, body["tasks"]["email"])
    assert (email.task_name, email.params["recipient"]) == (
        "email.send_confirmation",
        "a@example.com",
    )
    report = task(db, tenant, body["tasks"]["report"])
    assert report.params == {
        "record_id": "FIR-7",
        "title": "FIR FIR-7",
        "fields": {"station": "Central", "items": 3},
    }
    assert task(db, tenant, body["tasks"]["analytics"]).task_name == "analytics.update_dashboard"


def test_no_address_means_no_email_and_one_bad_task_does_not_stop_the_others(client, db, tenant):
    body = client.post(
        "/api/events",
        json={
            "event": "record.completed",
            "record_id": "has/slash",
        },
    ).get_json()
    assert body["skipped"] == {"email": "no recipient_email given"}
    assert body["failed"]["report"]["reason"] == "invalid params"
    assert "record_id" in body["failed"]["report"]["errors"]
    assert list(body["tasks"]) == ["analytics"]
    assert TaskStore(db).count(tenant, TaskFilter()) == 1


def test_with_redis_down_the_tasks_are_still_created_for_the_relay(make_api, db, tenant, api_key):
    app = make_api(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().post(
        "/api/events",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"event": "record.finalized", "record_id": "R-1", "recipient_email": "a@example.com"},
    )
    assert response.status_code == 202
    assert response.get_json()["failed"] == {}
    assert TaskStore(db).count(tenant, TaskFilter()) == 1


def test_with_postgres_down_every_failure_is_reported(make_api, api_key, db, tenant):
    app = make_api(DATABASE_URL="postgresql://127.0.0.1:1/x")
    grant = KeyResolver(db).resolve(api_key)  # the API's own lookup would need Postgres
    app.extensions["offload"].keys._cache[hash_key(api_key)] = _Cached(grant, float("inf"))
    response = app.test_client().post(
        "/api/events",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"event": "record.completed", "record_id": "R-1"},
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["tasks"] == {}
    assert set(body["failed"]) == {"report", "analytics"}
    assert "Postgres" in body["failed"]["report"]["reason"]


def test_unknown_event_is_422(client, db, tenant):
    response = client.post("/api/events", json={"event": "record.deleted", "record_id": "x"})
    assert response.status_code == 422
    assert "event" in response.get_json()["errors"]["json"]


def test_post_reports_enqueues_the_report_task(client, db, tenant):
    response = client.post(
        "/api/reports",
        json={
            "format": "excel",
            "priority": 9,
            "params": {"report_name": "ops", "task_history": {"status": "failed"}},
        },
    )
    assert response.status_code == 202
    body = response.get_json()
    assert (body["task_name"], body["priority"]) == ("reports.generate_excel", 9)
    bad = client.post("/api/reports", json={"format": "pdf", "params": {"record_id": "R"}})
    assert bad.status_code == 422
    assert "title" in bad.get_json()["errors"]["json"]["params"]
    assert TaskStore(db).count(tenant, TaskFilter()) == 1


def test_post_analytics_sync_takes_the_task_params_at_top_level(client, db, tenant):
    response = client.post(
        "/api/analytics/sync",
        json={
            "source_url": "https://metrics.example.com/sprints",
            "team_id": "alpha",
            "force_refresh": True,
        },
    )
    assert response.status_code == 202
    assert response.get_json()["params"] == {
        "source_url": "https://metrics.example.com/sprints",
        "team_id": "alpha",
        "force_refresh": True,
    }
    refused = client.post("/api/analytics/sync", json={"source_url": "file:///etc/passwd"})
    assert refused.status_code == 422
    assert "source_url" in refused.get_json()["errors"]["json"]


def test_latest_snapshots_per_kind_and_tenant(client, db, tenant):
    assert client.get("/api/analytics/dashboard").status_code == 404
    snapshots.save(db, tenant, "dashboard", None, {"total": 1})
    snapshots.save(db, tenant, "dashboard", None, {"total": 2})
    snapshots.save(db, "someone-else", "task_trends", None, {"days": []})
    latest = client.get("/api/analytics/").get_json()["snapshots"]
    assert latest["dashboard"]["data"] == {"total": 2}
    assert latest["task_trends"] is None
    assert client.get("/api/analytics/dashboard").get_json()["data"] == {"total": 2}
    assert client.get("/api/analytics/unknown").status_code == 404


COMPLETED = {
    "event": "record.completed",
    "record_id": "FIR-9",
    "recipient_email": "a@example.com",
    "record_title": "FIR",
}


def test_a_retried_event_replays_the_first_answer_and_sends_no_second_email(client, db, tenant):
    headers = {"Idempotency-Key": "evt-1"}
    first = client.post("/api/events", json=COMPLETED, headers=headers)
    assert first.status_code == 202
    assert set(first.get_json()["tasks"]) == {"email", "report", "analytics"}
    again = client.post("/api/events", json=COMPLETED, headers=headers)
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert TaskStore(db).count(tenant, TaskFilter(task_name="email.send_confirmation")) == 1
    assert TaskStore(db).count(tenant, TaskFilter()) == 3
    without = client.post("/api/events", json=COMPLETED)  # no key: a new event
    assert without.status_code == 202
    assert TaskStore(db).count(tenant, TaskFilter()) == 6


def test_an_event_key_reused_with_another_body_is_422(client, db, tenant):
    headers = {"Idempotency-Key": "evt-2"}
    assert client.post("/api/events", json=COMPLETED, headers=headers).status_code == 202
    other = client.post("/api/events", json={**COMPLETED, "record_id": "FIR-10"}, headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]["headers"]
    assert TaskStore(db).count(tenant, TaskFilter()) == 3


def test_an_event_key_is_not_shared_with_the_enqueue_endpoints(client, db, tenant):
    headers = {"Idempotency-Key": "shared-key"}
    assert client.post("/api/events", json=COMPLETED, headers=headers).status_code == 202
    response = client.post(
        "/api/tasks/enqueue",
        json={"task_name": "analytics.update_dashboard", "params": {}},
        headers=headers,
    )
    assert response.status_code == 422  # one key, one request: another endpoint is another


def test_the_openapi_document_names_the_events_idempotency_header(client):
    spec = client.get("/openapi.json").get_json()
    parameters = spec["paths"]["/api/events"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)
