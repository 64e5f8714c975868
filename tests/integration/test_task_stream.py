"""The task event stream (`GET /api/tasks/{id}/stream` and the dashboard's), read through the
Flask test client against real Postgres: an event on every change, none without one, the end
once the task finishes; the tenant's own tasks only; a cap on open streams per process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from offload_shared.store import TaskStore
from tests.conftest import create_task
from tests.ui_client import Browser


def events(response: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of an event stream, as a client parses them; comments skipped."""
    buffer = b""
    for chunk in response.response:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(b": ", 1)
                for line in block.split(b"\n")
                if b": " in line and line[:1] != b":"
            )
            if b"event" in fields:
                yield fields[b"event"].decode(), orjson.loads(fields[b"data"])


def test_the_stream_sends_each_change_and_ends_when_the_task_finishes(client, db, tenant):
    store = TaskStore(db)
    task = create_task(db, tenant)
    response = client.get(f"/api/tasks/{task.id}/stream")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    stream = events(response)
    name, first = next(stream)
    assert (name, first["status"], first["progress"]) == ("task", "pending", 0)
    assert "params" not in first
    attempt = store.claim(task.id)
    assert attempt is not None
    store.set_progress(task.id, 40)
    seen = next(stream)[1]
    assert (seen["status"], seen["attempts"]) == ("running", 1)
    if seen["progress"] != 40:  # the claim and the progress fell in two checks
        seen = next(stream)[1]
    assert seen["progress"] == 40
    store.complete(attempt, {"ok": True}).wait()
    last = next(stream)[1]
    assert last["status"] == "completed"
    assert last["completed_at"] is not None
    assert list(stream) == []  # the stream ended
    response.close()


def test_a_finished_task_streams_its_state_once_and_ends(client, db, tenant):
    task = create_task(db, tenant)
    client.post(f"/api/tasks/{task.id}/cancel")
    response = client.get(f"/api/tasks/{task.id}/stream")
    assert [(n, d["status"]) for n, d in events(response)] == [("task", "cancelled")]
    response.close()


def test_another_tenants_task_has_no_stream(client, db, tenant):
    other = create_task(db, f"{tenant}-other")
    response = client.get(f"/api/tasks/{other.id}/stream")
    assert response.status_code == 404
    assert response.get_json()["status"] == "Not Found"
    assert client.get(f"/api/tasks/{uuid.uuid4()}/stream").status_code == 404


def test_a_process_serves_at_most_its_streams_then_503_with_retry_after(
    make_api, api_key, db, tenant
):
    app = make_api(OFFLOAD_API_STREAMS="2")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    task = create_task(db, tenant)
    browser = Browser(app)
    browser.login(api_key)
    held = [client.get(f"/api/tasks/{task.id}/stream"), browser.get(f"/ui/tasks/{task.id}/stream")]
    assert [r.status_code for r in held] == [200, 200]  # the API's and the dashboard's share
    refused = client.get(f"/api/tasks/{task.id}/stream")
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "2 event streams" in refused.get_json()["message"]
    held.pop().close()  # a stream closed gives its slot back
    again = client.get(f"/api/tasks/{task.id}/stream")
    assert again.status_code == 200
    again.close()
    held[0].close()


def test_the_stream_is_in_the_openapi_document_as_an_event_stream(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/api/tasks/{task_id}/stream"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert operation["x-offload-scope"] == "read"
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert not [p for p in spec["paths"] if p.startswith("/ui")]  # the dashboard is not the API


def test_the_task_list_stream_tells_of_the_tenants_changes_only(app, api_key, db, tenant):
    browser = Browser(app)
    browser.login(api_key)
    response = browser.get("/ui/events/stream")
    stream = events(response)
    create_task(db, f"{tenant}-other")
    create_task(db, tenant)
    name, data = next(stream)
    assert name == "changed"
    assert data["transitions"] == 1
    response.close()
