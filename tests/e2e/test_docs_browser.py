"""/docs in a real browser: headless Chromium (Debian's, driven by Playwright) opens Swagger UI
served by the real `offload-api` process, under its Content-Security-Policy, authorizes with a
key and enqueues a task through "Try it out". No file comes from the internet.

Chromium is the system's (`make test` installs it with apt-get when it can); Playwright's own
browser downloads are never used. Without a Chromium the test skips, saying what is missing.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from offload_shared.apikeys import create_key
from tests.browser import ARTIFACTS, chromium, launch

TASK = {
    "task_name": "email.send_notification",
    "params": {"to": ["ada@example.com"], "subject": "From the docs", "body": "Hello"},
}


def test_swagger_ui_authorizes_and_enqueues_through_try_it_out(lone_api, db, tenant):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    chromium()  # skips, saying why, without one
    key = create_key(db, tenant)
    origin = urlsplit(lone_api.url).netloc
    problems: list[str] = []  # console errors (CSP violations among them), page errors
    outside: list[str] = []  # any request that leaves the API's origin

    with sync_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url)
                    if urlsplit(r.url).scheme in ("http", "https")
                    and urlsplit(r.url).netloc != origin
                    else None
                ),
            )

            page.goto(f"{lone_api.url}/docs", wait_until="networkidle")
            page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
            assert "Offload" in page.inner_text(".swagger-ui .info .title")

            page.click("button.authorize")
            page.fill(".modal-ux input", key)
            page.click(".modal-ux button.modal-btn.auth")
            page.click(".modal-ux button.btn-done")

            operation = page.locator(".opblock-post", has=page.locator(
                '.opblock-summary-path[data-path="/api/tasks/enqueue"]'
            ))  # fmt: skip
            operation.locator(".opblock-summary").click()
            operation.locator("button.try-out__btn").click()
            operation.locator("textarea.body-param__text").fill(json.dumps(TASK))
            operation.locator("button.execute").click()

            status = operation.locator(".live-responses-table tr.response .response-col_status")
            status.first.wait_for(timeout=15_000)
            assert status.first.inner_text().strip() == "202"
            body = operation.locator(
                ".live-responses-table tr.response .response-col_description pre"
            ).first
            match = re.search(r'"task_id":\s*"([0-9a-f-]{36})"', body.inner_text())
            assert match, body.inner_text()
            task_id = uuid.UUID(match.group(1))

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs-try-it-out.png"), full_page=True)
        finally:
            browser.close()

    assert problems == []
    assert outside == []
    stored = requests.get(
        f"{lone_api.url}/api/tasks/{task_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=5,
    )
    assert stored.status_code == 200
    assert stored.json()["params"]["subject"] == "From the docs"
    assert Path(ARTIFACTS / "docs-try-it-out.png").stat().st_size > 0
