"""The dashboard's login, sessions, CSRF and security headers, against real Postgres and Redis
(the Flask test client in front of the app)."""

from __future__ import annotations

import hashlib
import html
import re
from html.parser import HTMLParser

import pytest

from offload_shared.apikeys import create_key, revoke_key
from tests.conftest import create_task
from tests.ui_client import Browser

PAGES = ("/ui/", "/ui/tasks", "/ui/workers", "/ui/schedules")


@pytest.fixture
def browser(app):
    return Browser(app)


def _session_id(response) -> str:
    cookie = response.headers["Set-Cookie"]
    match = re.match(r"offload_ui=([^;]+);", cookie)
    assert match, cookie
    return match.group(1)


def test_login_sets_a_secure_httponly_strict_cookie_carrying_only_a_random_id(browser, api_key, db):
    response = browser.login(api_key)
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/"
    cookie = response.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/ui"):
        assert attribute in cookie, cookie
    raw = _session_id(response)
    assert api_key not in cookie
    stored = db.fetch_all("SELECT id_hash FROM offload.ui_sessions")
    assert {"id_hash": hashlib.sha256(raw.encode()).hexdigest()} in stored
    assert {"id_hash": raw} not in stored


def test_a_page_without_a_session_sends_to_the_login_and_back_after_it(browser, api_key):
    response = browser.get("/ui/tasks?status=failed")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/login?next=/ui/tasks%3Fstatus%3Dfailed"
    assert browser.login(api_key, "/ui/tasks?status=failed").headers["Location"] == (
        "/ui/tasks?status=failed"
    )


def test_a_form_posted_without_a_session_logs_in_to_the_overview(browser, db, tenant):
    task = create_task(db, tenant)
    response = browser.post(f"/ui/tasks/{task.id}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/login?next=/ui/"
    assert db.fetch_one("SELECT status FROM offload.tasks WHERE id = %(id)s", {"id": task.id}) == {
        "status": "pending"
    }


def test_login_never_sends_to_another_site(browser, api_key):
    for target in ("https://evil.example/ui/", "//evil.example/ui/", "/api/tasks/", "/ui\\x"):
        assert browser.login(api_key, target).headers["Location"] == "/ui/"


def test_a_bad_key_is_refused_and_counts_against_the_bad_authentication_limit(make_api, tenant):
    app = make_api(OFFLOAD_BAD_AUTH_BURST="2", OFFLOAD_BAD_AUTH_PER_CLIENT="0.001")
    browser = Browser(app, remote_addr=f"10.{hash(tenant) % 250}.7.7")
    first = browser.login("ofk_" + "x" * 43)
    assert first.status_code == 401
    assert "not a live API key" in first.get_data(as_text=True)
    assert browser.login("not even a key").status_code == 401
    third = browser.login("ofk_" + "y" * 43)
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) >= 1


def test_a_key_without_the_read_scope_cannot_log_in(browser, db, tenant):
    response = browser.login(create_key(db, tenant, scopes=["enqueue"]))
    assert response.status_code == 403
    assert "'read' scope" in html.unescape(response.get_data(as_text=True))
    assert "Set-Cookie" not in response.headers


def test_logout_ends_the_session_at_once(app, api_key):
    browser = Browser(app)
    raw = _session_id(browser.login(api_key))
    assert browser.get("/ui/").status_code == 200
    response = browser.post("/ui/logout")
    assert response.status_code == 303
    assert "offload_ui=;" in response.headers["Set-Cookie"]
    # The old cookie, sent again by a client that kept it, opens nothing any more.
    thief = Browser(app)
    thief.client.set_cookie("offload_ui", raw, path="/ui")
    assert thief.get("/ui/").status_code == 303


def test_revoking_the_key_ends_its_sessions_at_once(browser, db, tenant):
    key_id_key = create_key(db, tenant)
    browser.login(key_id_key)
    assert browser.get("/ui/").status_code == 200
    [row] = db.fetch_all(
        "SELECT api_key_id FROM offload.ui_sessions s JOIN offload.api_keys k "
        "ON k.id = s.api_key_id WHERE k.tenant = %(t)s",
        {"t": tenant},
    )
    revoke_key(db, row["api_key_id"])
    assert browser.get("/ui/").status_code == 303


def test_a_form_without_the_csrf_token_or_from_another_origin_is_refused(
    browser, api_key, db, tenant
):
    task = create_task(db, tenant)
    browser.login(api_key)
    url = f"/ui/tasks/{task.id}/cancel"
    assert browser.post(url, {"csrf_token": ""}).status_code == 403
    assert browser.post(url, {"csrf_token": "x" * 43}).status_code == 403
    other = browser.post(url, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "own origin" in other.get_data(as_text=True)
    assert db.fetch_one("SELECT status FROM offload.tasks WHERE id = %(id)s", {"id": task.id}) == {
        "status": "pending"
    }
    assert browser.post(url, headers={"Origin": "http://localhost"}).status_code == 303


def test_the_login_form_refuses_another_origin(browser, api_key):
    response = browser.client.post(
        "/ui/login", data={"api_key": api_key}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


class _Inline(HTMLParser):
    """What a strict CSP would block: inline scripts, style attributes, event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [
            f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")
        ]
        self.found += [
            f"{tag} {n}=javascript:" for n, v in attrs if v and v.startswith("javascript:")
        ]


def test_every_page_is_served_under_the_strict_policy_with_nothing_inline(
    browser, api_key, db, tenant
):
    task = create_task(db, tenant)
    browser.login(api_key)
    for page in (*PAGES, f"/ui/tasks/{task.id}", "/ui/login"):
        response = browser.get(page)
        assert response.status_code == 200, page
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "form-action 'self'" in policy
        assert response.headers["Cache-Control"] == "no-store", page
        assert response.headers["X-Frame-Options"] == "DENY"
        # no-referrer would make Chromium post the forms with `Origin: null` (refused)
        assert response.headers["Referrer-Policy"] == "same-origin"
        parser = _Inline()
        parser.feed(response.get_data(as_text=True))
        assert parser.found == [], (page, parser.found)


def test_the_static_files_are_packaged_and_public(app):
    client = app.test_client()
    for name, kind in (("ui.js", "javascript"), ("ui.css", "text/css")):
        with client.get(f"/ui/static/{name}") as response:
            assert response.status_code == 200
            assert kind in response.headers["Content-Type"]
            assert response.get_data()
    assert client.get("/ui/static/../app.py").status_code == 404
