"""The request id: taken from a sane X-Request-ID or made, answered on every response (errors
included), on the API's log lines for the request, and stored on the tasks it creates."""

import logging
import re
import uuid

import pytest

from offload_shared import apikeys, logs
from offload_shared.store import TaskStore

EMAIL = {
    "task_name": "email.send_notification",
    "params": {"to": ["a@example.com"], "subject": "Hi", "body": "Hello"},
}
GENERATED = re.compile(r"[0-9a-f]{32}")


def stored_request_id(db, tenant, task_id):
    return TaskStore(db).get(tenant, uuid.UUID(task_id)).request_id


def test_a_sane_client_id_is_answered_and_stored_on_the_task(client, db, tenant):
    sent = "req-42.retry:1_A"
    response = client.post("/api/tasks/enqueue", json=EMAIL, headers={"X-Request-ID": sent})
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == sent
    body = response.get_json()
    assert body["request_id"] == sent
    assert stored_request_id(db, tenant, body["task_id"]) == sent
    assert client.get(f"/api/tasks/{body['task_id']}").get_json()["request_id"] == sent


def test_without_one_an_id_is_generated_per_request(client, db, tenant):
    first = client.post("/api/tasks/enqueue", json=EMAIL)
    second = client.post("/api/tasks/enqueue", json=EMAIL)
    ids = [r.headers["X-Request-ID"] for r in (first, second)]
    assert all(GENERATED.fullmatch(i) for i in ids)
    assert ids[0] != ids[1]
    assert stored_request_id(db, tenant, first.get_json()["task_id"]) == ids[0]


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "x" * 129,
        "has space",
        "semi;colon",
        'quote"d',
        "<script>",
        "caf\u00e9",
    ],
)
def test_junk_is_never_echoed_a_fresh_id_replaces_it(client, db, tenant, junk):
    response = client.post("/api/tasks/enqueue", json=EMAIL, headers={"X-Request-ID": junk})
    answered = response.headers["X-Request-ID"]
    assert answered != junk
    assert GENERATED.fullmatch(answered)
    assert stored_request_id(db, tenant, response.get_json()["task_id"]) == answered


def test_the_longest_sane_id_is_kept(client):
    sent = "a" * 128
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent


def test_a_batch_stores_its_request_id_on_each_task(client, db, tenant):
    sent = "batch-7"
    response = client.post(
        "/api/tasks/enqueue/batch",
        json={"tasks": [EMAIL, EMAIL, {"task_name": "analytics.update_dashboard"}]},
        headers={"X-Request-ID": sent},
    )
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == sent
    task_ids = [t["task_id"] for t in response.get_json()["tasks"]]
    assert [stored_request_id(db, tenant, t) for t in task_ids] == [sent] * 3


def test_an_event_stores_its_request_id_on_the_tasks_it_fans_out_to(client, db, tenant):
    response = client.post(
        "/api/events",
        json={"event": "record.completed", "record_id": "R-1", "recipient_email": "a@example.com"},
        headers={"X-Request-ID": "event-1"},
    )
    assert response.status_code == 202
    task_ids = list(response.get_json()["tasks"].values())
    assert task_ids
    assert {stored_request_id(db, tenant, t) for t in task_ids} == {"event-1"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code"),
    [
        ("post", "/api/tasks/enqueue", {"data": "{nope", "content_type": "application/json"}, 400),
        ("get", f"/api/tasks/{uuid.uuid4()}", {}, 404),
        ("get", "/api/nowhere", {}, 404),
        ("delete", "/api/tasks/enqueue", {}, 405),
        ("post", "/api/tasks/enqueue", {"json": {"task_name": "email.nope"}}, 422),
        ("post", "/api/tasks/enqueue", {"data": "x" * 2_000_000}, 413),
    ],
)
def test_error_answers_carry_it_too(client, method, path, kwargs, code):
    response = getattr(client, method)(path, headers={"X-Request-ID": "err-1"}, **kwargs)
    assert response.status_code == code
    assert response.headers["X-Request-ID"] == "err-1"


def test_an_unauthenticated_answer_carries_it(app):
    response = app.test_client().get("/api/tasks/", headers={"X-Request-ID": "anon-1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "anon-1"


def test_every_line_logged_for_a_request_carries_its_id_and_none_after(make_api, api_key):
    seen: list[tuple[str, object]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), logs.current_fields()))

    # Nothing listens there: the publish fails and the API logs why (the task stays in the
    # outbox), inside the request.
    app = make_api(REDIS_URL="redis://127.0.0.1:1/11?socket_connect_timeout=0.2")
    client = app.test_client()
    keep = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(keep)
    try:
        response = client.post(
            "/api/tasks/enqueue",
            json=EMAIL,
            headers={"X-Request-ID": "log-1", "Authorization": f"Bearer {api_key}"},
        )
        logging.getLogger("offload.test").warning("after the request")
    finally:
        root.removeHandler(keep)
    assert response.status_code == 202
    during, after = seen[:-1], seen[-1]
    assert any("outbox" in message for message, _ in during)
    assert all(fields == {"request_id": "log-1"} for _, fields in during)
    assert after == ("after the request", None)


def test_a_manual_schedule_run_stores_the_run_now_request_id(app, db, tenant):
    admin = app.test_client()
    key = apikeys.create_key(db, tenant, scopes=apikeys.SCOPES)
    admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    body = {"name": "logs", "task_name": "analytics.update_dashboard", "every_seconds": 300}
    try:
        schedule = admin.post("/api/schedules", json=body).get_json()
        run = admin.post(
            f"/api/schedules/{schedule['schedule_id']}/run-now",
            headers={"X-Request-ID": "manual-1"},
        ).get_json()
        assert stored_request_id(db, tenant, run["task_id"]) == "manual-1"
    finally:
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [tenant])


def test_the_access_log_has_a_line_per_request_with_its_id(make_api, api_key, caplog):
    client = make_api(OFFLOAD_API_ACCESS_LOG="true").test_client()
    with caplog.at_level(logging.INFO, logger="offload_api.access"):
        client.get(
            "/api/tasks/?status=pending",
            headers={"X-Request-ID": "access-1", "Authorization": f"Bearer {api_key}"},
        )
        client.get("/api/nowhere", headers={"X-Request-ID": "access-2"})
    lines = [getattr(r, logs.EXTRA) for r in caplog.records if r.name == "offload_api.access"]
    assert [(x["request_id"], x["method"], x["path"], x["status"]) for x in lines] == [
        ("access-1", "GET", "/api/tasks/", 200),
        ("access-2", "GET", "/api/nowhere", 404),
    ]
    assert all(x["duration_ms"] >= 0 for x in lines)


def test_without_the_setting_there_is_no_access_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="offload_api.access"):
        client.get("/healthz")
    assert [r for r in caplog.records if r.name == "offload_api.access"] == []
