"""Every route and every scope, derived from the app's url_map: a route added later is covered
without touching this file, and its scope is read from where the view declares it."""

import html
import re
import uuid

import pytest
from werkzeug.routing import AnyConverter, UUIDConverter

from offload_api.app import create_app
from offload_api.auth import PUBLIC, scope_of
from offload_shared.apikeys import SCOPES, create_key
from tests.ui_client import Browser

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def routes(infra):
    """(method, url, endpoint) for every route of a freshly built app."""
    app = create_app({"TESTING": True, "OFFLOAD_SETTINGS": infra.settings()})
    found = []
    for rule in app.url_map.iter_rules():
        values = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, UUIDConverter):
                values[name] = uuid.uuid4()
            elif isinstance(converter, AnyConverter):
                values[name] = sorted(converter.items)[0]
            else:
                values[name] = "x"
        url = app.url_map.bind("localhost").build(rule.endpoint, values)
        for method in sorted(rule.methods & set(METHODS)):
            found.append((method, url, rule.endpoint, scope_of(app, rule.endpoint, method)))
    app.extensions["offload"].close()
    return found


@pytest.fixture(scope="module")
def bearer_routes(routes):
    """The routes a bearer key opens: all but the dashboard's (its credential is a session)."""
    return [r for r in routes if not r[2].startswith("ui.")]


@pytest.fixture
def scoped_clients(app, db, tenant):
    """A client per scope whose key has that scope alone."""
    clients = {}
    for scope in SCOPES:
        c = app.test_client()
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(db, tenant, scopes=[scope])}"
        clients[scope] = c
    return clients


def test_only_the_probes_and_the_api_documents_are_public(routes):
    public = {url for _, url, _, scope in routes if scope == PUBLIC}
    docs = {"/docs", "/docs/init.js", "/docs/page.css", "/docs/static/x"}  # Swagger UI (docs.py)
    metrics = {"/metrics"}  # no API key: a token of its own (test_api_metrics.py)
    dashboard = {"/ui/login", "/ui/logout", "/ui/static/x"}  # logout needs the session's CSRF
    assert (
        public == {"/healthz", "/readyz", "/openapi.json", "/static/x"} | docs | dashboard | metrics
    )


def test_reads_need_read_and_writes_need_enqueue_or_admin(routes):
    for method, url, _, scope in routes:
        if scope == PUBLIC:
            assert method == "GET" or url in ("/ui/login", "/ui/logout"), url
            continue
        if method == "GET":
            assert scope == "read", url
        else:
            assert scope in ("enqueue", "admin"), url


def test_every_route_answers_403_naming_its_scope_to_a_key_without_it(
    bearer_routes, scoped_clients
):
    checked = 0
    for method, url, _, needed in bearer_routes:
        if needed == PUBLIC:
            continue
        for scope, c in scoped_clients.items():
            response = c.open(url, method=method, json={})
            if scope == needed:
                assert response.status_code not in (401, 403), (method, url, scope)
            else:
                assert response.status_code == 403, (method, url, scope, response.get_json())
                body = response.get_json()
                assert body["status"] == "Forbidden"
                assert f"'{needed}'" in body["message"]
            checked += 1
    assert checked >= 3 * 14  # the 14 protected routes of today at least


def test_every_protected_route_answers_401_without_a_key(bearer_routes, app):
    c = app.test_client()
    for method, url, _, needed in bearer_routes:
        if needed != PUBLIC:
            response = c.open(url, method=method, json={})
            assert response.status_code == 401, (method, url)
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_public_routes_need_no_key(routes, app):
    c = app.test_client()
    for method, url, endpoint, needed in routes:
        # No file "x"; /metrics is off (404) without OFFLOAD_METRICS_TOKEN.
        skipped = ("static", "docs.static", "ui.static", "metrics.scrape")
        if needed == PUBLIC and endpoint not in skipped:
            # logged out: to the login page; the login form without a key: refused
            expected = {"ui.logout": 303, "ui.login": 401}.get(endpoint, 200)
            assert c.open(url, method=method).status_code == expected, url


def test_a_view_that_declares_no_scope_needs_admin(make_api, db, tenant):
    app = make_api()
    app.add_url_rule("/api/undeclared", "undeclared", lambda: {"ok": True})
    c = app.test_client()
    key = create_key(db, tenant, scopes=["read", "enqueue"])
    response = c.get("/api/undeclared", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert "'admin'" in response.get_json()["message"]
    admin = create_key(db, tenant, scopes=["admin"])
    assert c.get("/api/undeclared", headers={"Authorization": f"Bearer {admin}"}).json == {
        "ok": True
    }


def test_the_openapi_document_states_each_operations_scope(routes, app):
    """The document says what the hook enforces: every operation its scope and 401/403/429,
    the probes no security at all; and it has no path the url_map lacks."""
    spec = app.test_client().get("/openapi.json").get_json()
    documented = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                documented[(method.upper(), path)] = operation
    served = [
        r
        for r in routes
        if r[2].partition(".")[0] not in ("api-docs", "docs", "ui", "metrics") and r[2] != "static"
    ]
    assert len(documented) == len(served)
    for (method, path), operation in documented.items():
        [scope] = {s for _, s in _matching(routes, method, path)}
        if scope == PUBLIC:
            assert operation["security"] == [], path
        else:
            assert operation["x-offload-scope"] == scope, (method, path)
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]


def _matching(routes, method, path):
    """The routes of the url_map an OpenAPI path names ({task_id}, {kind} are parameters)."""
    pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
    found = [((m, url), s) for m, url, _, s in routes if m == method and pattern.match(url)]
    assert found, (method, path)
    return found


@pytest.fixture
def scoped_browsers(app, db, tenant):
    """A logged-in dashboard session per scope set: read alone, read+enqueue, read+admin (a key
    without read cannot log in)."""
    browsers = {}
    for scope, scopes in (("read", ["read"]), ("enqueue", ["read", "enqueue"]),
                          ("admin", ["read", "admin"])):  # fmt: skip
        b = Browser(app)
        assert b.login(create_key(db, tenant, scopes=scopes)).status_code == 303
        browsers[scope] = b
    return browsers


def test_every_dashboard_route_needs_its_scope_from_the_session(routes, scoped_browsers, app):
    """The dashboard's views declare scopes like the API's and the same hook checks them, with
    the session's key: without a session, to the login page; lacking the scope, 403."""
    checked = 0
    for method, url, endpoint, needed in routes:
        if not endpoint.startswith("ui.") or needed == PUBLIC:
            continue
        anonymous = app.test_client().open(url, method=method)
        assert anonymous.status_code == 303, (method, url)
        assert anonymous.headers["Location"].startswith("/ui/login?next=")
        for scope, b in scoped_browsers.items():
            response = b.post(url) if method == "POST" else b.get(url)
            allowed = needed == "read" or scope == needed
            if allowed:
                assert response.status_code not in (303, 401, 403), (method, url, scope)
            else:
                assert response.status_code == 403, (method, url, scope)
                assert f"'{needed}'" in html.unescape(response.get_data(as_text=True))
            response.close()
            checked += 1
    assert checked >= 3 * 14  # the dashboard's 14 protected routes of today at least
