"""The dashboard in a real browser: headless Chromium (Debian's, driven by Playwright: see
tests/browser.py) against the whole stack as real processes (the API under granian, the three
workers, the scheduler). It logs in with an API key, watches a running report's progress bar
move over the event stream and downloads the file, cancels a task, retries a failed one (which
the email worker then sends), filters the list, sees the list update itself, pauses a schedule
and bulk-cancels a filtered set after its confirmation; with no console error, no CSP
violation and no request leaving the API's origin.

Screenshots of every page are saved under .test-artifacts/ui/ (git-ignored).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from offload_shared.apikeys import create_key
from tests.browser import ARTIFACTS, chromium, launch
from tests.conftest import wait_for
from tests.seeding import seed, seed_many

SHOTS = ARTIFACTS / "ui"
HISTORY_ROWS = 120_000  # the report reads them 10,000 at a time: a dozen progress steps
EMAIL = {"to": ["ada@example.com"], "subject": "Dashboard", "body": "Hello"}


def _enqueue(api: requests.Session, url: str, task_name: str, params: dict[str, Any],
             **options: Any) -> str:  # fmt: skip
    response = api.post(
        f"{url}/api/tasks/enqueue",
        json={"task_name": task_name, "params": params, **options},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def _status(api: requests.Session, url: str, task_id: str) -> str:
    return str(api.get(f"{url}/api/tasks/{task_id}", timeout=10).json()["status"])


def test_the_dashboard_in_a_browser(stack, db, tenant):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    chromium()  # skips, saying why, without one
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = stack.url
    key = create_key(db, tenant, scopes=["read", "enqueue", "admin"])
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    # A tenant with history: the report reads it; 100 % completed, so nothing is left for the
    # scheduler's reconciliation to publish.
    seed_many(db, tenant, HISTORY_ROWS, span_seconds=3_600, completed_pct=100)
    now = datetime.now(UTC)
    failed = str(
        seed(
            db,
            tenant,
            status="failed",
            created_at=now - timedelta(minutes=2),
            started_at=now - timedelta(minutes=2),
            completed_at=now - timedelta(minutes=1),
            error="SMTP said no",
        )
    )
    later = _enqueue(api, url, "email.send_notification", EMAIL, delay_seconds=3_600)
    schedule = api.post(
        f"{url}/api/schedules",
        json={
            "name": "dashboard refresh",
            "task_name": "analytics.update_dashboard",
            "params": {},
            "every_seconds": 3_600,
        },
        timeout=10,
    )
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["schedule_id"]

    origin = urlsplit(url).netloc
    problems: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: outside.append(r.url)
                    if urlsplit(r.url).scheme in ("http", "https")
                    and urlsplit(r.url).netloc != origin else None)  # fmt: skip

            def shot(name: str) -> None:
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

            # Log in: the overview asks for it first, and comes back after it.
            page.goto(f"{url}/ui/")
            assert urlsplit(page.url).path == "/ui/login"
            shot("login")
            page.fill('input[name="api_key"]', key)
            page.click('button[type="submit"]')
            page.wait_for_url(f"{url}/ui/")
            assert tenant in page.inner_text("header")
            shot("overview")
            assert page.locator("svg.chart").count() == 4

            # A running report's progress bar moves, over the event stream, without a reload.
            report = _enqueue(api, url, "reports.generate_excel",
                              {"report_name": "history", "task_history": {}})  # fmt: skip
            page.goto(f"{url}/ui/tasks/{report}")
            seen: list[int] = []
            shot_taken = False
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    state = page.evaluate(
                        "() => [document.getElementById('task-status')?.textContent,"
                        " document.getElementById('task-progress')?.value]"
                    )
                except sync_api.Error:  # the page reloads itself once the task finished
                    page.wait_for_load_state()
                    continue
                if state[0] == "running" and state[1] and (not seen or seen[-1] != state[1]):
                    seen.append(int(state[1]))
                    if not shot_taken and 0 < state[1] < 100:
                        shot("task-running")
                        shot_taken = True
                if state[0] == "completed":
                    break
                page.wait_for_timeout(50)  # the browser's own clock: sample the bar's value
            assert page.inner_text("#task-status") == "completed", seen
            print(f"progress seen in the browser: {seen}")
            moving = sorted({p for p in seen if 0 < p < 100})
            assert len(moving) >= 2, f"the bar did not move: {seen}"
            assert seen == sorted(seen), seen
            with page.expect_download() as download:
                page.click("#artifact")
            assert download.value.suggested_filename == "history.xlsx"
            shot("task-completed")

            # Cancel a pending (delayed) task.
            page.goto(f"{url}/ui/tasks/{later}")
            page.click("#cancel")
            page.wait_for_selector("text=The task was cancelled.")
            assert page.inner_text("#task-status") == "cancelled"
            assert _status(api, url, later) == "cancelled"
            shot("task-cancelled")

            # Retry a failed one: the email worker then sends it.
            page.goto(f"{url}/ui/tasks/{failed}")
            assert "SMTP said no" in page.inner_text("#task-error")
            page.click("#retry")
            page.wait_for_selector("text=The task was sent round again.")
            wait_for(lambda: _status(api, url, failed) == "completed", timeout=30)
            page.wait_for_selector('#task-status:text("completed")', timeout=15_000)
            shot("task-retried")

            # Filter the list with its form.
            page.goto(f"{url}/ui/tasks")
            assert "120,00" in page.inner_text(".count") or "10,000+" in page.inner_text(".count")
            page.select_option('select[name="status"]', "cancelled")
            page.click('form.filter button[type="submit"]')
            page.wait_for_url("**/ui/tasks?status=cancelled*")
            rows = page.locator("tr[data-task]")
            assert [rows.nth(i).get_attribute("data-task") for i in range(rows.count())] == [later]
            shot("tasks-filtered")

            # The list updates itself: a task enqueued elsewhere appears without a reload.
            page.select_option('select[name="status"]', "pending")
            page.click('form.filter button[type="submit"]')
            page.wait_for_url("**/ui/tasks?status=pending*")
            marker = page.evaluate("() => { window.__offloadMarker = 1; return 1; }")
            fresh = _enqueue(api, url, "email.send_notification", EMAIL, delay_seconds=3_600)
            page.wait_for_selector(f'tr[data-task="{fresh}"]', timeout=15_000)
            assert page.evaluate("() => window.__offloadMarker") == marker  # no reload
            shot("tasks-live")

            # Bulk cancel the filtered set, after its confirmation.
            page.click('button[name="action"][value="cancel"]')
            assert "1 task" in page.inner_text("#bulk-matched")
            shot("bulk-confirm")
            page.click("#confirm")
            assert "1 of 1 task cancelled" in page.inner_text("#bulk-done")
            assert _status(api, url, fresh) == "cancelled"

            # Workers: the stack's three, alive.
            page.goto(f"{url}/ui/workers")
            alive = page.locator("tr.alive td:nth-child(2)").all_inner_texts()
            assert {"email", "reports", "analytics"} <= set(alive)
            shot("workers")

            # Schedules: pause one.
            page.goto(f"{url}/ui/schedules")
            row = page.locator(f'tr[data-schedule="{schedule_id}"]')
            row.locator('button:text("Pause")').click()
            page.wait_for_selector("text=The schedule is paused.")
            shot("schedules")
            paused = api.get(f"{url}/api/schedules/{schedule_id}", timeout=10).json()
            assert paused["enabled"] is False

            # Logging out ends the session.
            page.click("header form.logout button")
            page.wait_for_url("**/ui/login")
            page.goto(f"{url}/ui/tasks")
            assert urlsplit(page.url).path == "/ui/login"
        finally:
            browser.close()
    assert problems == []
    assert outside == []
    assert all((SHOTS / f"{name}.png").stat().st_size > 0 for name in ("overview", "task-running"))
    assert uuid.UUID(report)
