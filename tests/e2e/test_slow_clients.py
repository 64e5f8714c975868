"""Slow clients cannot stall the API: the real `offload-api` process (granian's RSGI interface and
the buffering front, offload_api/front.py) under 200 idle or half-sent connections, and chunked
bodies.

Latencies are printed (run with -s to see them) and bounded generously: the point is "answers
as usual", not a timing target.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests

from offload_shared.apikeys import create_key
from tests.conftest import wait_for

EMAIL = {
    "task_name": "email.send_notification",
    "params": {"to": ["a@example.com"], "subject": "Hi", "body": "Hello"},
}
HALF_SENT = 200
SAMPLES = 20
NORMAL_SECONDS = 1.0  # generous: a request takes a few milliseconds on an idle machine


def half_sent(port: int, kind: str, key: str = "") -> socket.socket:
    """A connection that started a request and will never finish it. With a valid `key` the
    request gets past authentication, to where the app reads the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = b"POST /api/tasks/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if kind != "headers":
        start += f"Authorization: Bearer {key}\r\n".encode()
    if kind == "idle":  # connected, nothing sent
        return sock
    if kind == "headers":
        sock.sendall(start + b"Authorization: Bear")
    elif kind == "body":
        sock.sendall(start + b"Content-Length: 4000\r\n\r\n" + b'{"task_name": "ema')
    else:  # a chunked body whose last chunk never comes
        sock.sendall(start + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"tas\r\n')
    return sock


@contextmanager
def attack(port: int, key: str) -> Iterator[list[socket.socket]]:
    kinds = ("idle", "headers", "body", "chunked")
    socks = [half_sent(port, kinds[i % len(kinds)], key) for i in range(HALF_SENT)]
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def still_waiting(sock: socket.socket) -> bool:
    """The server has neither answered nor closed this connection."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)  # b"": closed -> False
    except BlockingIOError:
        return True  # nothing to read: still open, unanswered
    finally:
        sock.setblocking(True)


def timed(call: Callable[[], requests.Response], expected: int) -> list[float]:
    seconds = []
    for _ in range(SAMPLES):
        began = time.perf_counter()
        response = call()
        seconds.append(time.perf_counter() - began)
        assert response.status_code == expected, response.text
    return seconds


def measure(url: str, key: str) -> dict[str, list[float]]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        health = timed(lambda: session.get(f"{url}/healthz", timeout=10), 200)
        enqueue = timed(
            lambda: session.post(f"{url}/api/tasks/enqueue", json=EMAIL, timeout=10), 202
        )
    return {"healthz": health, "enqueue": enqueue}


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms"


@pytest.mark.parametrize("front", ["lone_api", "proxied_api"])
def test_half_sent_connections_do_not_stall_healthz_or_an_enqueue(request, front, db, tenant):
    """Against granian alone and through the nginx front deploy/ ships."""
    api = request.getfixturevalue(front)
    key = create_key(db, tenant)
    before = measure(api.url, key)
    with attack(api.port, key) as socks:
        during = measure(api.url, key)
        # The attack was live the whole time: none of its connections got an answer yet.
        waiting = sum(still_waiting(sock) for sock in socks)
    for name in before:
        print(f"\n{name}: without {summary(before[name])}; "
              f"with {HALF_SENT} half-sent connections {summary(during[name])}")  # fmt: skip
    for name, seconds in during.items():
        assert max(seconds) < NORMAL_SECONDS, (name, summary(seconds))
    assert waiting == HALF_SENT


def read_answer(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection or the deadline passes."""
    sock.settimeout(deadline)
    received = b""
    try:
        while chunk := sock.recv(65_536):
            received += chunk
    except TimeoutError:
        pass
    return received


def test_a_body_that_never_finishes_gets_408_at_the_body_deadline(lone_api, db, tenant):
    key = create_key(db, tenant)
    began = time.monotonic()
    with half_sent(lone_api.port, "body", key) as sock:  # declared 4,000 bytes, sent 18
        answer = read_answer(sock, lone_api.body_seconds + 10)
    took = time.monotonic() - began
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["code"] == 408
    assert lone_api.body_seconds - 0.5 <= took < lone_api.body_seconds + 5


def test_headers_that_never_finish_are_dropped_at_the_header_deadline(lone_api):
    began = time.monotonic()
    with half_sent(lone_api.port, "headers") as sock:
        answer = read_answer(sock, lone_api.header_seconds + 10)
    took = time.monotonic() - began
    assert answer == b""  # granian closes it without an answer
    assert lone_api.header_seconds - 0.5 <= took < lone_api.header_seconds + 5


def chunked(payload: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked."""
    for i in range(0, len(payload), size):
        yield payload[i : i + size]


@pytest.fixture
def session(db, tenant) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {create_key(db, tenant)}"
        s.headers["Content-Type"] = "application/json"
        yield s


def test_a_chunked_body_under_the_cap_is_read_whole(lone_api, session):
    body = dict(EMAIL, params={**EMAIL["params"], "body": "x" * (lone_api.max_body // 2)})
    payload = json.dumps(body).encode()
    response = session.post(f"{lone_api.url}/api/tasks/enqueue", data=chunked(payload), timeout=10)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    stored = session.get(f"{lone_api.url}/api/tasks/{task_id}", timeout=10).json()
    assert stored["params"]["body"] == body["params"]["body"]


@pytest.mark.parametrize("times_the_cap", [1.5, 20])
def test_a_chunked_body_over_the_cap_is_413_in_the_error_shape(lone_api, session, times_the_cap):
    pad = "x" * int(lone_api.max_body * times_the_cap)
    payload = json.dumps(dict(EMAIL, params={**EMAIL["params"], "body": pad})).encode()
    try:
        response = session.post(
            f"{lone_api.url}/api/tasks/enqueue", data=chunked(payload, 16_384), timeout=10
        )
    except requests.ConnectionError:
        if times_the_cap < 8:  # front.DRAIN_FACTOR: below it the body is drained, never reset
            raise
        pytest.skip("the server answered and closed before the client finished sending")
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "status": "Request Entity Too Large",
        "message": f"request body is larger than {lone_api.max_body} bytes",
    }
    # A new connection: after refusing a body it did not read to its end, granian closes this one.
    auth = {"Authorization": session.headers["Authorization"]}
    count = requests.get(f"{lone_api.url}/api/tasks/count/all", headers=auth, timeout=10)
    assert count.json() == {"count": 0}


def test_a_body_shorter_than_its_length_never_reaches_the_app(lone_api, db, tenant):
    key = create_key(db, tenant)
    payload = json.dumps(EMAIL).encode()
    sock = socket.create_connection(("127.0.0.1", lone_api.port), timeout=5)
    sock.sendall(
        b"POST /api/tasks/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(payload) + 10}\r\n\r\n".encode()
        + payload
    )
    sock.shutdown(socket.SHUT_WR)  # the client is done: the body ends 10 bytes short
    answer = read_answer(sock, 10)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {key}"
        wait_for(lambda: s.get(f"{lone_api.url}/healthz", timeout=5).ok)
        assert s.get(f"{lone_api.url}/api/tasks/count/all", timeout=5).json() == {"count": 0}
