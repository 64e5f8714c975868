"""The dashboard's workers and schedules pages, and its schedule actions (admin), against real
Postgres and Redis."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from offload_shared.apikeys import create_key
from offload_shared.schedules import ScheduleFields, ScheduleStore
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import WorkerRuntime
from tests.conftest import create_task
from tests.ui_client import Browser


@pytest.fixture
def admin(app, db, tenant):
    b = Browser(app)
    assert b.login(create_key(db, tenant, scopes=["read", "admin"])).status_code == 303
    return b


def test_the_workers_page_shows_each_process_and_only_the_tenants_running_tasks(
    app, api_key, db, tenant
):
    store = TaskStore(db)
    runtime = WorkerRuntime(queue="reports", store=store, outbox=None, threads=3)  # type: ignore[arg-type]
    db.fetch_all(
        "INSERT INTO offload.workers (id, queue, hostname, pid, threads) "
        "VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s, %(threads)s) RETURNING id",
        runtime.identity(),
    )
    mine = store.claim(create_task(db, tenant).id, runtime.id)
    theirs = store.claim(create_task(db, f"{tenant}-other").id, runtime.id)
    assert mine is not None
    assert theirs is not None
    store.set_progress(mine.id, 35)
    browser = Browser(app)
    browser.login(api_key)
    page = browser.text("/ui/workers")
    row = re.search(rf'<tr class="alive" data-worker="{runtime.id}">(.*?)</tr>', page, re.S)
    assert row, page
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[1:5] == [
        "reports",
        runtime.identity()["hostname"],
        str(runtime.identity()["pid"]),
        "3",
    ]
    assert f"/ui/tasks/{mine.id}" in row.group(1)
    assert '<progress max="100" value="35">' in row.group(1)
    assert str(theirs.id) not in page


def _schedule(db, tenant: str, **fields) -> ScheduleFields:
    values = {"name": "dash", "task_name": "analytics.update_dashboard", "params": {},
              "every_seconds": 300} | fields  # fmt: skip
    return ScheduleStore(db).create(tenant, ScheduleFields(**values), datetime.now(UTC))


def test_schedules_pause_resume_and_run_now_from_the_page(admin, db, tenant, redis_client):
    schedule = _schedule(db, tenant)
    store = ScheduleStore(db)
    page = admin.text("/ui/schedules")
    assert "every 300 s" in page
    assert ">active<" in page
    assert ">Pause<" in page
    response = admin.post(f"/ui/schedules/{schedule.id}/pause")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/schedules?notice=paused"
    assert store.get(tenant, schedule.id).enabled is False
    paused = admin.text("/ui/schedules?notice=paused")
    assert "The schedule is paused." in paused
    assert ">Resume<" in paused
    admin.post(f"/ui/schedules/{schedule.id}/resume")
    assert store.get(tenant, schedule.id).next_run_at is not None
    assert admin.post(f"/ui/schedules/{schedule.id}/run-now").status_code == 303
    runs, total = store.runs(tenant, schedule.id, limit=10, offset=0)
    assert total == 1
    assert runs[0].manual
    assert runs[0].task_id is not None
    assert f"/ui/tasks/{runs[0].task_id}" in admin.text("/ui/schedules")


def test_another_tenants_schedule_cannot_be_touched(admin, db, tenant):
    other = _schedule(db, f"{tenant}-other")
    assert admin.post(f"/ui/schedules/{other.id}/pause").status_code == 404
    assert ScheduleStore(db).get(f"{tenant}-other", other.id).enabled is True


def test_a_key_without_admin_sees_the_schedules_but_no_buttons(app, api_key, db, tenant):
    _schedule(db, tenant)
    browser = Browser(app)
    browser.login(api_key)  # read + enqueue
    page = browser.text("/ui/schedules")
    assert "every 300 s" in page
    assert ">Pause<" not in page
    assert "need a key with the <code>admin</code> scope" in page
