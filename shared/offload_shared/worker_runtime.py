"""What one worker process knows about itself: its id, its store, and which thread runs which
task. Created after the fork (a forked pool or id would be shared between processes)."""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dramatiq.middleware.threading import raise_thread_exception

from offload_shared import logs
from offload_shared.errors import OffloadError
from offload_shared.group_commit import GroupCommit
from offload_shared.metrics import counted
from offload_shared.outbox import OutboxSweeper
from offload_shared.sql import query
from offload_shared.store import TaskStore

log = logging.getLogger(__name__)


@dataclass
class _Running:
    thread: int  # threading.get_ident() of the thread running the task
    log_fields: Mapping[str, Any] | None = None  # its lines' fields, for lines about it elsewhere
    aborted: bool = False


@dataclass
class WorkerRuntime:
    queue: str
    store: TaskStore  # group-committed: every thread's status writes, one transaction at a time
    outbox: OutboxSweeper
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    threads: int = 0  # its Dramatiq threads, as operators see them (operations.workers)
    _threads: dict[uuid.UUID, _Running] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def started(self, task_id: uuid.UUID) -> None:
        """This thread runs `task_id` now (the status middleware says so once it is claimed)."""
        with self._lock:
            self._threads[task_id] = _Running(threading.get_ident(), logs.current_fields())

    def finished(self, task_id: uuid.UUID) -> None:
        """This thread is done with `task_id` (ran it, or skipped a duplicate of it: another
        thread's entry is left alone). An abort sent but not yet delivered is withdrawn, so it
        cannot land in the writing of the outcome or in the thread's next task."""
        with self._lock:
            running = self._threads.get(task_id)
            if running is not None and running.thread == threading.get_ident():
                del self._threads[task_id]
                if running.aborted:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(running.thread), None)

    def running(self) -> dict[uuid.UUID, int]:
        """Task id -> the ident of the thread running it."""
        with self._lock:
            return {task_id: r.thread for task_id, r in self._threads.items()}

    def log_fields(self, task_id: uuid.UUID) -> Mapping[str, Any] | None:
        """The log fields of the task's run here (logs.task_fields), for a line another thread
        writes about it (`extra={logs.EXTRA: ...}`)."""
        with self._lock:
            running = self._threads.get(task_id)
            return None if running is None else running.log_fields

    def abort(self, task_id: uuid.UUID, exc: type[BaseException]) -> bool:
        """Raise `exc` in the thread running `task_id`, once per run (a later attempt of the
        same task in this process is a new run); False if it is not running here or was
        aborted already. Under the lock, so the thread cannot finish in between."""
        with self._lock:
            running = self._threads.get(task_id)
            if running is None or running.aborted:
                return False
            running.aborted = True
            raise_thread_exception(running.thread, exc)
            return True

    def identity(self) -> dict[str, object]:
        return {
            "id": self.id,
            "queue": self.queue,
            "hostname": self.hostname,
            "pid": self.pid,
            "threads": self.threads,
        }

    def close(self) -> None:
        """At worker shutdown, once: commit what is queued, sweep the outbox, leave
        offload.workers, close the pools. The runtime owns them all, so no middleware needs to run
        before or after another for this to hold (a heartbeat after it writes nothing)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        writer = self.store.writer
        if isinstance(writer, GroupCommit):
            if not writer.drain(timeout=10):
                log.warning("status writes still queued at shutdown; their messages come back")
            writer.db.close()
        counted().flush()  # the outcomes just committed, before the process exits
        self.outbox.close()
        # Last, once the outcomes are committed: a worker gone from offload.workers is lost at
        # once in the reaper's eyes, and a queued outcome must not lose to its reap.
        try:
            with self.store.db.connection() as conn:
                conn.execute(query("remove_worker"), {"id": self.id})
        except OffloadError:
            log.warning("could not remove worker %s from offload.workers", self.id)
        self.store.db.close()


class RuntimeHolder:
    """Hands every middleware of one process the same WorkerRuntime, made anew after a fork."""

    def __init__(self, factory: Callable[[], WorkerRuntime]) -> None:
        self._factory = factory
        self._runtime: WorkerRuntime | None = None
        self._lock = threading.Lock()

    def get(self) -> WorkerRuntime:
        runtime = self._runtime
        if runtime is not None and runtime.pid == os.getpid():
            return runtime  # the common case, without the lock
        with self._lock:
            if self._runtime is None or self._runtime.pid != os.getpid():
                self._runtime = self._factory()
            return self._runtime
