"""GET /api/tasks/{id}/stream against the real `offload-api` process (granian, front.py): events
arrive as they are produced (not read ahead), streams hold none of the API's request threads
between checks, a process serves at most OFFLOAD_API_STREAMS of them, and a client that hangs
up gives its slot back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from offload_shared.apikeys import create_key
from offload_shared.settings import Settings
from offload_shared.store import TaskStore
from tests.conftest import create_task, wait_for

STREAMS = Settings().api_streams  # the lone API runs with the defaults
THREADS = Settings().api_threads


def events(response: requests.Response) -> Iterator[dict[str, Any]]:
    """The data of each `task` event, as it arrives."""
    name = None
    for line in response.iter_lines(chunk_size=1):
        if line.startswith(b"event: "):
            name = line[7:].decode()
        elif line.startswith(b"data: ") and name == "task":
            yield orjson.loads(line[6:])


@pytest.fixture
def key(db, tenant) -> str:
    return create_key(db, tenant, scopes=["read"])


def _open(url: str, key: str) -> requests.Response:
    return requests.get(
        url, headers={"Authorization": f"Bearer {key}"}, stream=True, timeout=(5, 30)
    )


def test_a_change_reaches_the_client_as_it_happens(lone_api, db, tenant, key):
    store = TaskStore(db)
    task = create_task(db, tenant)
    with _open(f"{lone_api.url}/api/tasks/{task.id}/stream", key) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = events(response)
        assert next(stream)["status"] == "pending"
        attempt = store.claim(task.id)
        assert attempt is not None
        changed = time.monotonic()
        assert next(stream)["status"] == "running"
        running_after = time.monotonic() - changed
        store.set_progress(task.id, 70)
        assert next(stream)["progress"] == 70
        store.complete(attempt, {"ok": True}).wait()
        assert next(stream)["status"] == "completed"
        assert list(stream) == []  # the server ended the stream
    # A check every 0.5 s, sent at once. Read ahead up to 64 KiB like other answers, the first
    # events would not arrive before the stream ended (the read timeout, 30 s, first).
    assert running_after < 3


def test_open_streams_hold_no_request_thread(lone_api, db, tenant, key):
    task = create_task(db, tenant)
    opened = [_open(f"{lone_api.url}/api/tasks/{task.id}/stream", key) for _ in range(THREADS * 3)]
    try:
        assert {r.status_code for r in opened} == {200}
        for response in opened:  # each has sent its first event: it is being served
            assert next(events(response))["status"] == "pending"
        # Were each stream to hold one of the 4 threads, this would wait for ever (5 s here).
        answer = requests.get(
            f"{lone_api.url}/api/tasks/{task.id}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        assert answer.status_code == 200
    finally:
        for response in opened:
            response.close()


def test_one_stream_over_the_cap_is_refused_and_a_closed_one_frees_its_slot(
    lone_api, db, tenant, key
):
    task = create_task(db, tenant)
    url = f"{lone_api.url}/api/tasks/{task.id}/stream"
    opened = [_open(url, key) for _ in range(STREAMS)]
    try:
        assert {r.status_code for r in opened} == {200}
        refused = _open(url, key)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        refused.close()
        opened.pop().close()  # the client hangs up: the front sees it and closes the stream

        def reopened() -> requests.Response | None:
            again = _open(url, key)
            if again.status_code == 200:
                return again
            again.close()
            return None

        opened.append(wait_for(reopened, timeout=10, interval=0.2))
    finally:
        for response in opened:
            response.close()


def test_events_pass_the_nginx_front_as_they_come(proxied_api, db, tenant, key):
    """Through deploy/'s nginx front (proxy buffering on, a 60 s read timeout against the
    stream's 15 s keep-alive) a change still arrives as it happens. (It does so even without
    the stream's X-Accel-Buffering: no, tried: nginx passes on what it has read.)"""
    store = TaskStore(db)
    task = create_task(db, tenant)
    with _open(f"{proxied_api.url}/api/tasks/{task.id}/stream", key) as response:
        assert response.status_code == 200
        stream = events(response)
        assert next(stream)["status"] == "pending"
        attempt = store.claim(task.id)
        assert attempt is not None
        changed = time.monotonic()
        assert next(stream)["status"] == "running"
        assert time.monotonic() - changed < 3
        store.complete(attempt, {}).wait()
        assert next(stream)["status"] == "completed"
