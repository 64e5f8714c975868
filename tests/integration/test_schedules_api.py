"""/api/schedules in-process against real Postgres and Redis: create, read, list, change, pause,
resume, run now, runs, delete; validation naming the field, tenants, scopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from offload_shared import apikeys
from offload_shared.db import Json
from tests.queues import message_ids

CLEANUP = {
    "name": "nightly cleanup",
    "task_name": "cleanup.old_records",
    "params": {"days_to_keep": 30},
    "cron": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "misfire": "run_once",
}
DASHBOARD = {"name": "dashboard", "task_name": "analytics.update_dashboard", "every_seconds": 300}


def client_for(app, db, tenant, *scopes):
    c = app.test_client()
    key = apikeys.create_key(db, tenant, scopes=scopes or apikeys.SCOPES)
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return c


@pytest.fixture
def admin(app, db, tenant):
    """The test tenant's client with every scope; its schedules are deleted afterwards, so no
    scheduler started later in the session fires them."""
    yield client_for(app, db, tenant)
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [tenant])


def created(c, body):
    response = c.post("/api/schedules", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def at(text):
    return datetime.fromisoformat(text)


def errors_of(response):
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert set(body) >= {"code", "status", "errors"}
    return body["errors"]["json"]


def test_create_answers_201_with_the_schedule_its_next_run_and_no_runs_yet(admin):
    before = datetime.now(UTC)
    body = created(admin, CLEANUP)
    assert uuid.UUID(body["schedule_id"])
    assert {k: body[k] for k in CLEANUP} == CLEANUP
    assert body["every_seconds"] is None
    assert body["priority"] is None
    assert body["enabled"] is True
    next_run = at(body["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (next_run.hour, next_run.minute) == (2, 0)
    assert before < at(body["next_run_at"]) <= before + timedelta(days=1)
    assert [body[k] for k in ("last_run_at", "last_task_id", "last_task_status")] == [None] * 3

    dashboard = created(admin, DASHBOARD)
    assert dashboard["params"] == {}  # no params: the task's schema says {} is valid
    assert dashboard["timezone"] == "UTC"
    assert dashboard["misfire"] == "skip"
    due = at(dashboard["next_run_at"])
    assert before + timedelta(seconds=299) <= due <= datetime.now(UTC) + timedelta(seconds=300)
    assert admin.get(f"/api/schedules/{body['schedule_id']}").get_json() == body


def test_the_cleanup_default_of_days_to_keep_is_filled_in_by_the_tasks_schema(admin):
    body = created(admin, {**CLEANUP, "params": {}})
    assert body["params"] == {"days_to_keep": 90}


def test_cron_aliases_are_stored_as_their_five_fields(admin):
    assert created(admin, {**DASHBOARD, "every_seconds": None, "cron": "@hourly"})["cron"] == (
        "0 * * * *"
    )


def test_bad_params_are_a_422_naming_the_field_and_nothing_is_stored(admin):
    response = admin.post(
        "/api/schedules",
        json={"name": "mail", "task_name": "email.send_notification", "every_seconds": 60,
              "params": {"to": "not-an-address", "subject": "s", "body": "b"}},
    )  # fmt: skip
    assert errors_of(response) == {"params": {"to": {"0": ["Not a valid email address."]}}}
    missing = admin.post("/api/schedules", json={**CLEANUP, "params": {"days_to_keep": "90"}})
    assert set(errors_of(missing)["params"]) == {"days_to_keep"}
    assert admin.get("/api/schedules").get_json()["total"] == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"cron": "61 * * * *"}, {"cron"}),
        ({"cron": "0 2 * *"}, {"cron"}),
        ({"timezone": "Mars/Olympus_Mons"}, {"timezone"}),
        ({"timezone": "europe/berlin"}, {"timezone"}),
        ({"every_seconds": 60}, {"cron", "every_seconds"}),  # both
        ({"cron": None}, {"cron", "every_seconds"}),  # neither
        ({"cron": None, "every_seconds": 0}, {"every_seconds"}),
        ({"cron": None, "every_seconds": 1.5}, {"every_seconds"}),
        ({"misfire": "sometimes"}, {"misfire"}),
        ({"priority": 11}, {"priority"}),
        ({"enabled": "yes"}, {"enabled"}),
        ({"name": ""}, {"name"}),
        ({"name": "two\nlines"}, {"name"}),
        ({"task_name": "no.such_task"}, {"task_name"}),
        ({"extra": 1}, {"extra"}),
        ({"cron": "61 * * * *", "timezone": "Nowhere", "priority": 0}, {"cron", "timezone",
                                                                          "priority"}),
    ],
)  # fmt: skip
def test_a_bad_rule_zone_or_field_is_a_422_naming_each_field(admin, change, named):
    body = {**CLEANUP, **change}
    assert set(errors_of(admin.post("/api/schedules", json=body))) == named


def test_a_second_schedule_of_the_same_name_is_a_409(admin, app, db):
    created(admin, DASHBOARD)
    response = admin.post("/api/schedules", json={**DASHBOARD, "every_seconds": 60})
    assert response.status_code == 409
    assert response.get_json()["status"] == "Conflict"
    other_tenant = f"t-{uuid.uuid4().hex[:12]}"
    try:
        other = client_for(app, db, other_tenant)
        assert other.post("/api/schedules", json=DASHBOARD).status_code == 201  # per tenant
    finally:
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [other_tenant])


def test_the_list_is_by_name_paginated_with_each_schedules_latest_run_and_task_status(admin):
    ids = {name: created(admin, {**DASHBOARD, "name": name})["schedule_id"]
           for name in ("c", "a", "b")}  # fmt: skip
    run = admin.post(f"/api/schedules/{ids['b']}/run-now").get_json()
    first = admin.get("/api/schedules?limit=2").get_json()
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    [b] = [s for s in first["items"] if s["name"] == "b"]
    assert b["last_task_id"] == run["task_id"]
    assert b["last_task_status"] == "pending"
    assert at(b["last_run_at"]) == at(run["fire_time"])
    assert first["items"][0]["last_run_at"] is None
    rest = admin.get("/api/schedules?limit=2&offset=2").get_json()
    assert [s["name"] for s in rest["items"]] == ["c"]
    assert admin.get("/api/schedules?limit=0").status_code == 422


def test_run_now_enqueues_through_the_one_path_and_leaves_next_run_at_alone(
    admin, client, redis_client
):
    schedule = created(admin, {**CLEANUP, "priority": 7})
    response = admin.post(f"/api/schedules/{schedule['schedule_id']}/run-now")
    assert response.status_code == 202
    run = response.get_json()
    assert run["manual"] is True
    assert run["error"] is None
    assert run["task_status"] == "pending"
    task = client.get(f"/api/tasks/{run['task_id']}").get_json()
    assert (task["task_name"], task["params"], task["priority"]) == (
        "cleanup.old_records", {"days_to_keep": 30}, 7,
    )  # fmt: skip
    assert run["task_id"] in message_ids(redis_client, "analytics")  # published at once
    after = admin.get(f"/api/schedules/{schedule['schedule_id']}").get_json()
    assert after["next_run_at"] == schedule["next_run_at"]
    runs = admin.get(f"/api/schedules/{schedule['schedule_id']}/runs").get_json()
    assert runs["total"] == 1
    assert runs["items"] == [run]


def test_run_now_fires_a_paused_schedule_too_and_each_run_is_listed_latest_first(admin):
    sid = created(admin, {**DASHBOARD, "enabled": False})["schedule_id"]
    fired = [admin.post(f"/api/schedules/{sid}/run-now").get_json() for _ in range(3)]
    runs = admin.get(f"/api/schedules/{sid}/runs?limit=2").get_json()
    assert runs["total"] == 3
    assert [r["task_id"] for r in runs["items"]] == [fired[2]["task_id"], fired[1]["task_id"]]
    older = admin.get(f"/api/schedules/{sid}/runs?limit=2&offset=2").get_json()["items"]
    assert [r["task_id"] for r in older] == [fired[0]["task_id"]]
    assert admin.get(f"/api/schedules/{sid}").get_json()["next_run_at"] is None


def test_run_now_with_params_that_no_longer_validate_is_a_422_and_records_nothing(admin, db):
    sid = created(admin, CLEANUP)["schedule_id"]
    with db.connection() as conn:  # as if the task's schema had changed since
        conn.execute("UPDATE offload.schedules SET params = %s WHERE id = %s",
                     [Json({"days_to_keep": "lots"}), sid])  # fmt: skip
    response = admin.post(f"/api/schedules/{sid}/run-now")
    assert response.status_code == 422
    body = response.get_json()
    assert set(body["errors"]["params"]) == {"days_to_keep"}
    assert "lots" not in response.get_data(as_text=True)
    assert admin.get(f"/api/schedules/{sid}/runs").get_json()["total"] == 0


def test_patch_revalidates_the_whole_schedule_and_a_new_rule_restarts_from_now(admin):
    schedule = created(admin, DASHBOARD)
    sid = schedule["schedule_id"]
    url = f"/api/schedules/{sid}"

    renamed = admin.patch(url, json={"name": "dash", "priority": 9}).get_json()
    assert (renamed["name"], renamed["priority"]) == ("dash", 9)
    assert renamed["next_run_at"] == schedule["next_run_at"]  # the rule did not change
    assert at(renamed["updated_at"]) > at(schedule["updated_at"])

    # a task whose params the stored ones do not fit
    assert set(errors_of(admin.patch(url, json={"task_name": "email.send_notification"}))) == {
        "params"
    }
    # cron beside the interval: both named; with every_seconds cleared it is the new rule
    assert set(errors_of(admin.patch(url, json={"cron": "*/10 * * * *"}))) == {
        "cron", "every_seconds",
    }  # fmt: skip
    retimed = admin.patch(url, json={"cron": "*/10 * * * *", "every_seconds": None}).get_json()
    assert (retimed["cron"], retimed["every_seconds"]) == ("*/10 * * * *", None)
    assert at(retimed["next_run_at"]).minute % 10 == 0
    assert errors_of(admin.patch(url, json={"timezone": "Atlantis"})) == {
        "timezone": ["unknown time zone: an IANA name such as UTC or Europe/Berlin"]
    }
    assert set(errors_of(admin.patch(url, json={"bogus": True}))) == {"bogus"}
    priority_cleared = admin.patch(url, json={"priority": None}).get_json()
    assert priority_cleared["priority"] is None
    assert admin.patch(url, json={}).get_json() == priority_cleared
    switched = admin.patch(url, json={"task_name": "cleanup.old_records", "params": {}})
    assert switched.get_json()["params"] == {"days_to_keep": 90}

    created(admin, {**CLEANUP, "name": "taken"})
    assert admin.patch(url, json={"name": "taken"}).status_code == 409


def test_pause_clears_next_run_at_and_resume_starts_afresh_from_now(admin):
    sid = created(admin, {**DASHBOARD, "every_seconds": 3600})["schedule_id"]
    paused = admin.post(f"/api/schedules/{sid}/pause").get_json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    assert admin.post(f"/api/schedules/{sid}/pause").get_json()["enabled"] is False
    resumed_at = datetime.now(UTC)
    resumed = admin.post(f"/api/schedules/{sid}/resume").get_json()
    assert resumed["enabled"] is True
    next_run = at(resumed["next_run_at"])
    assert resumed_at + timedelta(seconds=3599) <= next_run <= resumed_at + timedelta(seconds=3601)
    assert admin.post(f"/api/schedules/{sid}/resume").get_json() == resumed  # a no-op
    disabled = admin.patch(f"/api/schedules/{sid}", json={"enabled": False}).get_json()
    assert disabled["next_run_at"] is None


def test_delete_removes_the_schedule_and_its_runs_but_not_its_tasks(admin, client):
    sid = created(admin, DASHBOARD)["schedule_id"]
    task_id = admin.post(f"/api/schedules/{sid}/run-now").get_json()["task_id"]
    response = admin.delete(f"/api/schedules/{sid}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert admin.get(f"/api/schedules/{sid}").status_code == 404
    assert admin.get(f"/api/schedules/{sid}/runs").status_code == 404
    assert admin.delete(f"/api/schedules/{sid}").status_code == 404
    assert client.get(f"/api/tasks/{task_id}").status_code == 200


def test_another_tenants_schedule_is_not_found_by_any_route(admin, app, db):
    sid = created(admin, DASHBOARD)["schedule_id"]
    stranger = client_for(app, db, f"t-{uuid.uuid4().hex[:12]}")
    for method, path in [
        ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume"),
        ("POST", "/run-now"), ("GET", "/runs"),
    ]:  # fmt: skip
        response = stranger.open(f"/api/schedules/{sid}{path}", method=method, json={})
        assert response.status_code == 404, (method, path)
        assert response.get_json()["status"] == "Not Found"
    assert stranger.get("/api/schedules").get_json()["total"] == 0
    assert admin.get(f"/api/schedules/{sid}/runs").get_json()["total"] == 0  # nothing fired


def test_managing_schedules_needs_admin_and_reading_them_needs_read(admin, app, db, tenant):
    sid = created(admin, DASHBOARD)["schedule_id"]
    reader = client_for(app, db, tenant, "read")
    enqueuer = client_for(app, db, tenant, "read", "enqueue")
    assert reader.get("/api/schedules").get_json()["total"] == 1
    assert reader.get(f"/api/schedules/{sid}/runs").status_code == 200
    for c in (reader, enqueuer):
        for method, path in [("POST", ""), ("PATCH", f"/{sid}"), ("DELETE", f"/{sid}"),
                             ("POST", f"/{sid}/pause"), ("POST", f"/{sid}/run-now")]:  # fmt: skip
            response = c.open(f"/api/schedules{path}", method=method, json=DASHBOARD)
            assert response.status_code == 403, (method, path)
            assert "'admin'" in response.get_json()["message"]
    admin_only = client_for(app, db, tenant, "admin")
    assert admin_only.get("/api/schedules").status_code == 403  # scopes do not imply each other
