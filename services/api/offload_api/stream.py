"""Server-sent events: a task's status and progress as they change (`GET /api/tasks/{id}/stream`,
and the dashboard's task page), and a tenant's task changes (the dashboard's task list).

A stream checks Postgres every POLL_SECONDS (one primary-key lookup for a task; one indexed
range read for a tenant's events) and sends an event only when something changed, a comment
every KEEPALIVE_SECONDS so that proxies keep the connection open, and ends once the task has
finished. Under the API's front (front.py) a stream holds no thread between checks: it yields
an empty chunk, and the front waits POLL_SECONDS on its event loop (also watching for the
client hanging up) before asking for the next one. Under any other WSGI server the stream
sleeps in its own thread instead (PACED is then absent from the environ).

Each API process serves at most OFFLOAD_API_STREAMS streams at once (`StreamSlots`); one more
is refused with a 503 and Retry-After before anything is sent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from flask import Response, request

from offload_shared.errors import AtCapacity, OffloadError, TaskNotFound
from offload_shared.models import Task
from offload_shared.store import TaskStore

__all__ = [
    "KEEPALIVE_SECONDS",
    "PACED",
    "POLL_SECONDS",
    "StreamSlots",
    "event_stream",
    "task_state",
]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2_000  # how long an EventSource waits before reconnecting
PACED = "offload.stream_paced"  # environ key: the front paces the stream (front.py)
MIMETYPE = "text/event-stream"


class StreamSlots:
    """The cap on one process's open streams."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    def take(self) -> Callable[[], None]:
        """A slot, or AtCapacity; returns the function that gives it back (once)."""
        if not self._free.acquire(blocking=False):
            raise AtCapacity(
                f"this API process already serves {self.size} event streams",
                retry_after=KEEPALIVE_SECONDS,
            )
        given = threading.Event()

        def give() -> None:
            if not given.is_set():
                given.set()
                self._free.release()

        return give


def encode(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def task_state(task: Task) -> dict[str, Any]:
    """What a task's stream sends: what a watcher of a running task needs, never its params."""
    return {
        "id": str(task.id),
        "status": task.status.value,
        "progress": task.progress,
        "attempts": task.attempts,
        "retry_count": task.retry_count,
        "error_message": task.error_message,
        "cancel_requested": task.cancel_requested_at is not None,
        "started_at": task.started_at.isoformat() if task.started_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


# A check returns (event name, data) to send, or None when nothing changed; and whether the
# stream is over after it.
Check = Callable[[], tuple[tuple[str, Any] | None, bool]]


class _Events:
    """The stream's chunks, as an iterator whose close() always gives its slot back (a
    generator that never started would not run its `finally`)."""

    def __init__(self, check: Check, release: Callable[[], None], paced: bool) -> None:
        self._check = check
        self._release = release
        self._paced = paced
        self._pending: list[bytes] = [f"retry: {RETRY_MS}\n\n".encode()]
        self._quiet_since = time.monotonic()
        self._over = False
        self._checked_once = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pending:
            return self._pending.pop(0)
        if self._over:
            self.close()
            raise StopIteration
        if self._checked_once and not self._paced:
            time.sleep(POLL_SECONDS)  # pacing, outside the API's front only
        self._checked_once = True
        try:
            found, over = self._check()
        except OffloadError as exc:  # Postgres away: end it; the client reconnects (retry:)
            log.warning("event stream ended: %s", exc)
            found, over = None, True
        self._over = over
        now = time.monotonic()
        if found is not None:
            self._quiet_since = now
            return encode(*found)
        if over:
            return self.__next__()
        if now - self._quiet_since >= KEEPALIVE_SECONDS:
            self._quiet_since = now
            return b": keep-alive\n\n"
        return b""  # nothing new: the front waits POLL_SECONDS before asking again

    def close(self) -> None:
        self._release()


def event_stream(slots: StreamSlots, check: Check) -> Response:
    """An event-stream response running `check` every POLL_SECONDS until it says it is over."""
    release = slots.take()
    try:
        events = _Events(check, release, paced=bool(request.environ.get(PACED)))
        response = Response(events, mimetype=MIMETYPE)
    except BaseException:
        release()
        raise
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def task_check(store: TaskStore, tenant: str, task_id: uuid.UUID) -> Check:
    """A task's changes: an event `task` whenever its state changes; over once it finished
    (or is gone: an event `gone`)."""
    last: dict[str, Any] = {}

    def check() -> tuple[tuple[str, Any] | None, bool]:
        try:
            task = store.get(tenant, task_id)
        except TaskNotFound:
            return ("gone", {"id": str(task_id)}), True
        state = task_state(task)
        changed = state != last
        last.clear()
        last.update(state)
        return (("task", state) if changed else None), task.status.finished

    return check
