"""The dashboard's pages and actions for one tenant, against real Postgres and Redis: what each
page shows comes from the tenant's own rows, filters narrow the list, actions change the tasks
the way the JSON API's do, and scopes decide who may act."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from offload_api.ui import pages
from offload_shared.apikeys import create_key
from offload_shared.masking import MASK
from offload_shared.store import TaskStore
from tests.conftest import create_task
from tests.seeding import seed
from tests.ui_client import Browser

REPORT = "reports.generate_excel"
REPORT_PARAMS = {"report_name": "r", "columns": ["a"], "rows": [[1]]}


@pytest.fixture
def browser(app, api_key):
    b = Browser(app)
    assert b.login(api_key).status_code == 303
    return b


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr data-task="([0-9a-f-]{36})"', page)


def _status(db, task_id) -> str:
    row = db.fetch_one("SELECT status FROM offload.tasks WHERE id = %(id)s", {"id": task_id})
    assert row is not None
    return str(row["status"])


def test_the_overview_counts_the_tenants_tasks_per_queue_and_only_its_own(browser, db, tenant):
    now = datetime.now(UTC)
    for _ in range(3):
        create_task(db, tenant)  # email: ready
    create_task(db, tenant, REPORT, REPORT_PARAMS, delay_seconds=600)  # reports: delayed
    seed(db, tenant, status="failed", created_at=now - timedelta(minutes=30),
         started_at=now - timedelta(minutes=30), completed_at=now - timedelta(minutes=20),
         error="boom")  # fmt: skip
    seed(db, tenant, status="completed", created_at=now - timedelta(minutes=9),
         started_at=now - timedelta(minutes=9),
         completed_at=now - timedelta(minutes=8))  # fmt: skip
    for _ in range(5):
        create_task(db, f"{tenant}-other")
    page = browser.text("/ui/")
    cells = re.compile(r"<td[^>]*>(?:<a[^>]*>)?([\d,]+)")
    rows = {  # ready, delayed, waiting, running, completed, failed, cancelled (last hour)
        m.group(1): [int(n.replace(",", "")) for n in cells.findall(m.group(2))][:7]
        for m in re.finditer(r'<th><a href="/ui/\?queue=(\w+)">\w+</a></th>(.*?)</tr>', page, re.S)
    }
    assert rows["email"] == [3, 0, 0, 0, 1, 1, 0]
    assert rows["reports"] == [0, 1, 0, 0, 0, 0, 0]
    assert page.count('<svg class="chart"') == 4  # throughput and failure rate, hour and day
    assert "1 completed" in page
    assert "1 failed" in page
    assert "<title>" in page  # each bar's figures as its tooltip
    one_queue = browser.text("/ui/?queue=reports")
    assert "0 completed" in one_queue
    assert browser.get("/ui/?queue=nope").status_code == 422


def test_the_task_list_filters_by_status_queue_name_time_and_id(browser, db, tenant):
    now = datetime.now(UTC)
    email = create_task(db, tenant)
    report = create_task(db, tenant, REPORT, REPORT_PARAMS)
    old = seed(db, tenant, status="failed", created_at=now - timedelta(days=3), error="x")
    other = create_task(db, f"{tenant}-other")
    everything = _ids(browser.text("/ui/tasks"))
    assert everything == [str(report.id), str(email.id), str(old)]  # newest first, own only
    assert str(other.id) not in everything
    assert _ids(browser.text("/ui/tasks?status=failed")) == [str(old)]
    assert _ids(browser.text("/ui/tasks?queue=reports")) == [str(report.id)]
    assert _ids(browser.text(f"/ui/tasks?task_name={REPORT}")) == [str(report.id)]
    until = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert _ids(browser.text(f"/ui/tasks?until={until}")) == [str(old)]
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert set(_ids(browser.text(f"/ui/tasks?since={since}"))) == {str(email.id), str(report.id)}
    prefix = str(email.id)[:8].upper()
    assert _ids(browser.text(f"/ui/tasks?id={prefix}")) == [str(email.id)]
    page = browser.text("/ui/tasks?status=failed&queue=email")
    assert '<option value="failed" selected>' in page  # the form keeps the filter


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=done", "status"), ("since=yesterday", "since"), ("id=xyz!", "id"),
     ("page=0", "page"), ("page=abc", "page"), ("queue=a%20b", "queue")],
)  # fmt: skip
def test_a_bad_filter_is_a_422_naming_the_field(browser, query, field):
    response = browser.get(f"/ui/tasks?{query}")
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert f"bad filter field(s) {field}" in text or f"bad field {field}" in text, text


def test_the_list_pages_newest_first_and_caps_its_count(browser, db, tenant, monkeypatch):
    store = TaskStore(db)
    created = [create_task(db, tenant).id for _ in range(7)]
    monkeypatch.setattr("offload_api.ui.filters.PAGE_SIZE", 3)
    monkeypatch.setattr(pages.filters, "PAGE_SIZE", 3)
    first = browser.text("/ui/tasks")
    assert "7 tasks" in first
    assert _ids(first) == [str(i) for i in reversed(created)][:3]
    third = browser.text("/ui/tasks?page=3")
    assert _ids(third) == [str(created[0])]
    assert 'rel="next"' not in third
    assert 'rel="prev"' in third
    monkeypatch.setattr(pages, "COUNT_CAP", 5)
    capped = browser.text("/ui/tasks")
    assert "5+ tasks" in capped
    assert store.count(tenant, pages.filters.parse({}).where) == 7  # type: ignore[arg-type]


def test_another_tenants_task_is_not_found(browser, db, tenant):
    task = create_task(db, f"{tenant}-other")
    assert browser.get(f"/ui/tasks/{task.id}").status_code == 404
    assert browser.get(f"/ui/tasks/{uuid.uuid4()}").status_code == 404
    assert browser.get(f"/ui/tasks/{task.id}/stream").status_code == 404
    assert browser.post(f"/ui/tasks/{task.id}/cancel").status_code == 404
    assert _status(db, task.id) == "pending"


def test_the_task_page_shows_its_record_with_secrets_masked(browser, db, tenant):
    params = {"source_url": "https://metrics:hunter2@metrics.example.com/v1", "team_id": "t1"}
    task = create_task(db, tenant, "analytics.sync_metrics", params)
    with db.connection() as conn:  # a result carrying a token, as a careless task might
        conn.execute(
            'UPDATE offload.tasks SET result = \'{"ok": true, "access_token": "abc123"}\' '
            "WHERE id = %(id)s",
            {"id": task.id},
        )
    page = html.unescape(browser.text(f"/ui/tasks/{task.id}"))
    assert "hunter2" not in page
    assert "abc123" not in page
    assert f"https://{MASK}@metrics.example.com/v1" in page
    assert f'"access_token": "{MASK}"' in page
    assert '"team_id": "t1"' in page
    assert 'id="timeline"' in page
    assert "pending</span> attempt 0" in page
    assert 'id="cancel"' in page
    assert 'id="retry"' not in page


def test_cancel_and_retry_from_the_task_page(browser, db, tenant, redis_client):
    task = create_task(db, tenant)
    response = browser.post(f"/ui/tasks/{task.id}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ui/tasks/{task.id}?notice=cancelled"
    assert _status(db, task.id) == "cancelled"
    page = browser.text(response.headers["Location"])
    assert "The task was cancelled." in page
    assert 'id="retry"' in page
    assert browser.post(f"/ui/tasks/{task.id}/cancel").status_code == 409
    assert browser.post(f"/ui/tasks/{task.id}/retry").status_code == 303
    assert _status(db, task.id) == "pending"
    history = browser.text(f"/ui/tasks/{task.id}")
    assert history.count("<li class=") == 3  # pending, cancelled, pending again


def test_a_read_only_key_sees_no_buttons_and_may_not_act(app, db, tenant):
    reader = Browser(app)
    reader.login(create_key(db, tenant, scopes=["read"]))
    task = create_task(db, tenant)
    page = reader.text(f"/ui/tasks/{task.id}")
    assert 'id="cancel"' not in page
    response = reader.post(f"/ui/tasks/{task.id}/cancel")
    assert response.status_code == 403
    assert "'enqueue' scope" in html.unescape(response.get_data(as_text=True))
    assert _status(db, task.id) == "pending"
    assert "Everything this filter matches" not in reader.text("/ui/tasks")


def test_bulk_cancel_asks_first_then_changes_exactly_the_filtered_set(browser, db, tenant):
    emails = [create_task(db, tenant).id for _ in range(4)]
    report = create_task(db, tenant, REPORT, REPORT_PARAMS)
    form = {"action": "cancel", "queue": "email"}
    asked = browser.post("/ui/tasks/bulk", form)
    assert asked.status_code == 200
    assert "4 tasks" in asked.get_data(as_text=True)
    assert {_status(db, i) for i in emails} == {"pending"}  # nothing changed yet
    done = browser.post("/ui/tasks/bulk", {**form, "confirm": "yes"})
    assert "4 of 4 tasks cancelled" in done.get_data(as_text=True)
    assert {_status(db, i) for i in emails} == {"cancelled"}
    assert _status(db, report.id) == "pending"
    again = browser.post("/ui/tasks/bulk", {"action": "retry", "queue": "email", "confirm": "yes"})
    assert "4 of 4 tasks sent round again" in again.get_data(as_text=True)
    assert {_status(db, i) for i in emails} == {"pending"}
    assert browser.post("/ui/tasks/bulk", {"action": "delete"}).status_code == 422
