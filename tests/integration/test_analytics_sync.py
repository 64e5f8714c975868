"""analytics.sync_metrics against a real local HTTP server and real Postgres."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from offload_analytics_worker import hosts, jobs
from offload_analytics_worker.http_fetch import SourceUnavailable
from offload_dev.procs import free_port
from offload_shared.errors import PermanentTaskError
from tests.seeding import running_job

SECRET = "secret-body-text"


@dataclass
class Route:
    body: bytes = b"[]"
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True
    hang: bool = False  # never answer (until the test ends)
    trickle_seconds: float = 0.0  # send the body one byte at a time, this far apart


@dataclass
class Source:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    released: threading.Event = field(default_factory=threading.Event)

    def serve(self, path: str, document: object = None, **kw) -> str:
        if document is not None:
            kw["body"] = json.dumps(document).encode()
        self.routes[path] = Route(**kw)
        return self.url + path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        source: Source = self.server.source  # type: ignore[attr-defined]
        source.hits[self.path] += 1
        route = source.routes.get(self.path) or Route(body=SECRET.encode(), status=404)
        if route.hang:
            source.released.wait(30)
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.trickle_seconds:
            for byte in route.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if source.released.wait(route.trickle_seconds):
                    return
        else:
            self.wfile.write(route.body)

    def log_message(self, format, *args):  # keep test output quiet
        pass


@pytest.fixture
def source():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    server.source = Source(f"http://127.0.0.1:{server.server_port}")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.source  # type: ignore[attr-defined]
    server.source.released.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def settings(infra):
    return infra.settings(OFFLOAD_SYNC_ALLOWED_HOSTS="127.0.0.1", OFFLOAD_SYNC_TIMEOUT="0.3")


def sync(db, settings, tenant, url, **params):
    task = running_job(db, tenant, "analytics.sync_metrics", {"source_url": url, **params})
    return jobs.sync_metrics(db, settings, task)


def stored(db, tenant):
    return {
        r["external_id"]: r
        for r in db.fetch_all(
            "SELECT * FROM offload.metrics WHERE tenant = %(tenant)s", {"tenant": tenant}
        )
    }


def counts(result):
    return {k: result[k] for k in ("fetched", "created", "updated", "skipped")}


def test_a_second_sync_creates_new_items_updates_changed_ones_and_skips_the_rest(
    db, settings, tenant, source
):
    url = source.serve("/m", [{"id": "a", "v": 1}, {"id": "b", "v": 1}, {"id": 3, "v": 1}])
    first = sync(db, settings, tenant, url)
    assert counts(first) == {"fetched": 3, "created": 3, "updated": 0, "skipped": 0}
    before = stored(db, tenant)

    source.serve(
        "/m",
        {"metrics": [{"v": 1, "id": "a"}, {"id": "b", "v": 2}, {"id": 3, "v": 1}, {"id": "d"}]},
    )
    second = sync(db, settings, tenant, url)

    assert counts(second) == {"fetched": 4, "created": 1, "updated": 1, "skipped": 2}
    assert second["skipped_by_reason"]["unchanged"] == 2
    after = stored(db, tenant)
    assert set(after) == {"a", "b", "3", "d"}
    assert after["b"]["data"] == {"id": "b", "v": 2}
    assert after["b"]["updated_at"] > before["b"]["updated_at"]
    assert after["b"]["data_sha256"] != before["b"]["data_sha256"]
    assert after["a"]["updated_at"] == before["a"]["updated_at"]  # key order is not a change
    assert after["a"]["source"] == url


def test_force_refresh_rewrites_unchanged_items_and_counts_them_as_updated(
    db, settings, tenant, source
):
    url = source.serve("/m", [{"id": 1}, {"id": 2}])
    sync(db, settings, tenant, url)
    before = stored(db, tenant)
    result = sync(db, settings, tenant, url, force_refresh=True)
    assert counts(result) == {"fetched": 2, "created": 0, "updated": 2, "skipped": 0}
    assert all(stored(db, tenant)[k]["updated_at"] > before[k]["updated_at"] for k in ("1", "2"))


def test_a_team_sync_skips_other_teams_and_labels_unlabelled_items(db, settings, tenant, source):
    url = source.serve(
        "/m", [{"id": 1, "team_id": "red"}, {"id": 2, "team_id": "blue"}, {"id": 3}, {"x": 1}]
    )
    result = sync(db, settings, tenant, url, team_id="red")
    assert counts(result) == {"fetched": 4, "created": 2, "updated": 0, "skipped": 2}
    assert result["skipped_by_reason"] == {
        "unchanged": 0,
        "other_team": 1,
        "invalid": 1,
        "duplicate": 0,
    }
    assert {k: r["team_id"] for k, r in stored(db, tenant).items()} == {"1": "red", "3": "red"}


def test_each_tenant_keeps_its_own_copy(db, settings, tenant, source):
    url = source.serve("/m", [{"id": 1}])
    sync(db, settings, tenant, url)
    other = f"other-{tenant}"
    assert sync(db, settings, other, url)["created"] == 1
    assert set(stored(db, other)) == set(stored(db, tenant)) == {"1"}


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "close-delimited"])
def test_an_answer_over_the_size_cap_is_refused_and_nothing_is_stored(
    db, infra, tenant, source, send_length
):
    document = json.dumps([{"id": i, "pad": "x" * 50} for i in range(40)]).encode()
    url = source.serve("/m", body=document, send_length=send_length)
    exact = infra.settings(
        OFFLOAD_SYNC_ALLOWED_HOSTS="127.0.0.1", OFFLOAD_SYNC_MAX_BYTES=str(len(document))
    )
    assert sync(db, exact, tenant, url)["created"] == 40  # exactly at the cap is fine

    smaller = infra.settings(
        OFFLOAD_SYNC_ALLOWED_HOSTS="127.0.0.1", OFFLOAD_SYNC_MAX_BYTES=str(len(document) - 1)
    )
    other = f"other-{tenant}"
    with pytest.raises(PermanentTaskError, match=f"larger than {len(document) - 1} bytes"):
        sync(db, smaller, other, url)
    assert stored(db, other) == {}


def test_a_source_that_never_answers_fails_retryably_within_the_timeout(
    db, settings, tenant, source
):
    url = source.serve("/slow", hang=True)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="did not answer in time") as err:
        sync(db, settings, tenant, url)
    assert time.monotonic() - started < 3  # timeout 0.3 s
    assert not isinstance(err.value, PermanentTaskError)


def test_a_source_trickling_its_answer_is_cut_off_at_the_deadline(db, settings, tenant, source):
    # Each byte arrives well within the 0.3 s read timeout; the whole would take ~40 s.
    url = source.serve("/drip", body=b"[" + b" " * 400 + b"]", trickle_seconds=0.1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="took too long"):
        sync(db, settings, tenant, url)
    assert time.monotonic() - started < 6  # deadline: 6 x 0.3 s


@pytest.mark.parametrize("status", [404, 400, 401, 403, 410])
def test_a_client_error_fails_permanently_without_echoing_the_body(
    db, settings, tenant, source, status
):
    url = source.serve("/m", body=SECRET.encode(), status=status)
    with pytest.raises(PermanentTaskError, match=f"HTTP {status}") as err:
        sync(db, settings, tenant, url)
    assert SECRET not in str(err.value)
    assert "127.0.0.1" not in str(err.value)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_a_server_error_or_throttling_is_retryable(db, settings, tenant, source, status):
    url = source.serve("/m", body=SECRET.encode(), status=status)
    with pytest.raises(SourceUnavailable, match=f"HTTP {status}") as err:
        sync(db, settings, tenant, url)
    assert SECRET not in str(err.value)


def test_a_redirect_is_not_followed(db, settings, tenant, source):
    source.serve("/target", [{"id": 1}])
    url = source.serve("/m", status=302, headers={"Location": f"{source.url}/target"})
    with pytest.raises(PermanentTaskError, match="redirects are not followed"):
        sync(db, settings, tenant, url)
    assert source.hits["/target"] == 0


def test_a_closed_port_is_retryable(db, settings, tenant):
    with pytest.raises(SourceUnavailable, match="could not reach"):
        sync(db, settings, tenant, f"http://127.0.0.1:{free_port()}/m")


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"body": b"<html>hi</html>", "content_type": "text/html"}, "Content-Type is not JSON"),
        ({"body": b"[{'id': 1}]"}, "not answer with valid JSON"),
        ({"body": b'[{"id": 1, "v": NaN}]'}, "not answer with valid JSON"),
        ({"body": b""}, "not answer with valid JSON"),
        ({"body": b'{"id": 1}'}, "JSON list"),
    ],
    ids=["html", "not-json", "nan", "empty", "wrong-shape"],
)
def test_an_answer_that_is_not_a_metrics_document_fails_permanently(
    db, settings, tenant, source, route, message
):
    url = source.serve("/m", **route)
    with pytest.raises(PermanentTaskError, match=message):
        sync(db, settings, tenant, url)
    assert stored(db, tenant) == {}


def test_a_vendor_json_content_type_is_accepted(db, settings, tenant, source):
    url = source.serve("/m", [{"id": 1}], content_type="application/vnd.metrics+json")
    assert sync(db, settings, tenant, url)["created"] == 1


def test_a_private_host_is_refused_unless_an_operator_allows_it(db, infra, tenant, source):
    url = source.serve("/m", [{"id": 1}])
    default = infra.settings()
    with pytest.raises(hosts.ForbiddenHost, match="OFFLOAD_SYNC_ALLOWED_HOSTS") as err:
        sync(db, default, tenant, url)
    assert "127.0.0.1" not in str(err.value)
    assert source.hits["/m"] == 0  # refused before connecting

    localhost = url.replace("127.0.0.1", "localhost")
    allowed = infra.settings(OFFLOAD_SYNC_ALLOWED_HOSTS="metrics.internal, 127.0.0.1")
    with pytest.raises(hosts.ForbiddenHost):  # allowing an address does not allow a name
        sync(db, allowed, tenant, localhost)

    assert sync(db, allowed, tenant, url)["created"] == 1
    assert source.hits["/m"] == 1
