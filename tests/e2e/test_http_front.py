"""Every error the real `offload-api` process produces, over real HTTP: the one JSON shape for
all that reach Flask; what granian answers itself (before the app) pinned as it is, so a granian
upgrade that changes it shows up here. And the security headers on every kind of answer."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import timedelta

import pytest
import requests

from offload_shared.apikeys import create_key
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.store import TaskStore

EMAIL = {
    "task_name": "email.send_notification",
    "params": {"to": ["a@example.com"], "subject": "Hi", "body": "Hello"},
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def key(db, tenant) -> str:
    return create_key(db, tenant)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error_shape(response: requests.Response, code: int) -> dict:
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["status"], str)
    assert body["status"]
    assert set(body) <= {"code", "status", "message", "errors"}
    return body


def test_unknown_route_is_404_json(lone_api):
    assert_error_shape(requests.get(f"{lone_api.url}/nope", timeout=5), 404)
    assert_error_shape(requests.get(f"{lone_api.url}/docs/static/../app.py", timeout=5), 404)


def test_wrong_method_is_405_json_with_allow(lone_api, key):
    response = requests.delete(f"{lone_api.url}/api/tasks/enqueue", headers=auth(key), timeout=5)
    assert_error_shape(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}
    health = requests.put(f"{lone_api.url}/healthz", timeout=5)
    assert_error_shape(health, 405)
    assert "GET" in health.headers["Allow"]


@pytest.mark.parametrize(
    ("headers", "data", "code"),
    [
        ({"Content-Type": "application/json"}, b"{not json", 400),
        ({"Content-Type": "text/plain"}, b"task_name=email.send_notification", 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"task_name=x", 415),
        ({"Content-Type": "application/json"}, b'{"task_name": "email.nope"}', 422),
        ({"Content-Type": "application/json"}, b"x" * 70_000, 413),  # the cap is 65,536
    ],
    ids=["malformed-json", "text-body", "form-body", "unknown-task", "over-the-cap"],
)
def test_bad_bodies_get_their_status_in_the_error_shape(lone_api, key, headers, data, code):
    response = requests.post(
        f"{lone_api.url}/api/tasks/enqueue", data=data, headers=auth(key) | headers, timeout=5
    )
    assert_error_shape(response, code)


def test_no_key_is_401_json(lone_api):
    response = requests.post(f"{lone_api.url}/api/tasks/enqueue", json=EMAIL, timeout=5)
    assert_error_shape(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65_536):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # Over serve.HEADER_BUFFER_BYTES (64 KiB; hyper reads a little past it), refused while
        # parsing: 431 whether the request line or a header is too long.
        (
            b"GET /" + b"a" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
            + b"\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (b"NOT HTTP\r\n\r\n", b"400 Bad Request"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", b"400 Bad Request"),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400 Bad Request"),
    ],
    ids=[
        "uri-beyond-the-buffer",
        "header-beyond-the-buffer",
        "too-many-headers",
        "garbage",
        "bad-header",
        "bad-length",
    ],
)
def test_what_granian_answers_itself_has_no_body_and_no_banner(lone_api, request_bytes, status):
    """granian 2.8 refuses these while parsing, before any Python runs, with an empty body and
    no option to hand them to the app (README, "Errors"): pinned here as they are."""
    answer = raw(lone_api.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"content-length: 0" in head.lower()
    assert body == b""
    assert b"server:" not in head.lower()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/tasks/?task_name=" + "a" * 9_000, {}, 414),
        ("/" + "a" * 30_000, {}, 414),
        ("/healthz", {"X-Big": "a" * 20_000}, 431),
        ("/healthz", {"X-Big": "a" * 60_000}, 431),
    ],
    ids=["query-too-long", "path-too-long", "headers-too-large", "headers-far-too-large"],
)
def test_a_long_target_or_large_headers_get_the_json_error_shape(
    lone_api, key, path, headers, status
):
    answer = requests.get(
        f"{lone_api.url}{path}", headers={"Authorization": f"Bearer {key}", **headers}, timeout=5
    )
    assert answer.status_code == status
    assert answer.json()["code"] == status
    assert "bytes" in answer.json()["message"]


def test_headers_within_the_bound_reach_the_app(lone_api):
    answer = raw(lone_api.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"X-Big: " + b"a" * 15_000 + b"\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]


def security_headers(response: requests.Response, policy: str) -> None:
    assert response.headers["Content-Security-Policy"] == policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers.get("Server", "granian") == "granian"  # never a version


def test_security_headers_on_json_answers_and_errors(lone_api, key):
    for response in (
        requests.get(f"{lone_api.url}/healthz", timeout=5),
        requests.get(f"{lone_api.url}/openapi.json", timeout=5),
        requests.get(f"{lone_api.url}/nope", timeout=5),
        requests.get(f"{lone_api.url}/api/tasks/", timeout=5),  # 401
        requests.get(f"{lone_api.url}/api/tasks/", headers=auth(key), timeout=5),
    ):
        security_headers(response, API_POLICY)
    listed = requests.get(f"{lone_api.url}/api/tasks/", headers=auth(key), timeout=5)
    assert listed.headers["Cache-Control"] == "no-store"


def test_docs_have_their_own_self_only_policy_and_no_cdn(lone_api):
    from offload_api.security_headers import DOCS_POLICY

    page = requests.get(f"{lone_api.url}/docs", timeout=5)
    assert page.status_code == 200
    security_headers(page, DOCS_POLICY)
    assert "'unsafe-inline'" not in DOCS_POLICY
    assert "http" not in DOCS_POLICY
    assert "<script>" not in page.text
    assert "http" not in page.text.replace("<!DOCTYPE html>", "")
    bundle = requests.get(f"{lone_api.url}/docs/static/swagger-ui-bundle.js", timeout=5)
    assert bundle.status_code == 200
    assert len(bundle.content) > 500_000
    assert bundle.headers["Content-Type"].startswith("text/javascript")
    security_headers(bundle, DOCS_POLICY)


def test_artifact_download_is_an_attachment_never_sniffed(lone_api, db, tenant, key):
    response = requests.post(
        f"{lone_api.url}/api/tasks/enqueue", json=EMAIL, headers=auth(key), timeout=5
    )
    task = TaskStore(db).get(tenant, uuid.UUID(response.json()["task_id"]))
    content = b"<html><script>alert(1)</script></html>" * 50_000  # 1.9 MB, two chunks
    PostgresArtifacts(db, ttl=timedelta(days=1)).save(
        task, filename="r.xlsx", content_type="application/octet-stream", content=content
    )
    download = requests.get(
        f"{lone_api.url}/api/tasks/{task.id}/artifact", headers=auth(key), timeout=10
    )
    assert download.status_code == 200
    assert download.content == content  # streamed whole through the front
    assert download.headers["Content-Disposition"].startswith('attachment; filename="r.xlsx"')
    security_headers(download, API_POLICY)
    assert download.headers["Cache-Control"] == "no-store"
    assert json.loads(requests.get(f"{lone_api.url}/healthz", timeout=5).text)["status"] == "ok"
