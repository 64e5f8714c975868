"""Deleting the outbox rows of published tasks, in batches, off the request path.

Every publishable transition writes an outbox row in its own transaction, so a task whose
publish failed (Redis away) or never happened (the process died right after the commit) is
published by the scheduler's relay. Once a publish succeeded, its rows are no longer needed:
the sweeper deletes them every `interval` seconds in one statement. A row the sweeper did not
get to (the process died) makes the relay publish that task once more, which is harmless: the
queue keeps one queued message per task and the claim in Postgres runs a task once.

Rows are deleted by task id. A task that is published, then fails and is retried within the
sweeper's interval keeps the first row (the retry's insert finds it there), which the sweep
deletes: if the retry's own publish also failed, the scheduler's reconciliation finds the
task missing from Redis later (its slow walk, OFFLOAD_REPUBLISH_AFTER_SECONDS) instead of the
relay within seconds.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import uuid
from collections.abc import Iterable

from offload_shared.db import Database
from offload_shared.errors import StoreError
from offload_shared.sql import query

__all__ = [
    "OutboxSweeper",
]

log = logging.getLogger(__name__)


class OutboxSweeper:
    def __init__(self, db: Database, *, interval: float = 0.1) -> None:
        self.db = db
        self.interval = interval
        self._ids: collections.deque[uuid.UUID] = collections.deque()  # thread-safe ends
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def published(self, ids: Iterable[uuid.UUID]) -> None:
        self._ids.extend(ids)
        if self._pid != os.getpid():  # no thread yet in this process (or it was forked)
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._stop.clear()
                    self._thread = threading.Thread(
                        target=self._run, name="offload-outbox-sweeper", daemon=True
                    )
                    self._thread.start()
        if not self._wake.is_set():
            self._wake.set()

    def flush(self) -> int:
        """Delete the rows gathered so far; returns how many ids were swept."""
        ids = [self._ids.popleft() for _ in range(len(self._ids))]
        if not ids:
            return 0
        try:
            with self.db.connection() as conn:
                conn.execute(query("outbox_done"), {"ids": ids})
        except StoreError as exc:  # the relay publishes them once more; harmless
            log.warning("%d outbox row(s) left to the relay: %s", len(ids), exc)
        return len(ids)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=5)
        self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._stop.wait(self.interval)  # gather a batch
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep sweeping; what was not swept is the relay's
                log.exception("the outbox sweep failed")
