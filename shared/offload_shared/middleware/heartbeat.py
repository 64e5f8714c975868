"""Worker heartbeats, hard aborts and the shutdown bound.

Every few seconds the worker process writes its heartbeat to offload.workers; the scheduler's
reaper treats running tasks of a worker that stopped beating as lost and sends them round again.
The same round trip returns this worker's tasks whose cancel request is older than the grace
period: they are aborted (TaskCancelled raised in their thread, which the runtime's registry
names; the status middleware registers a task once claimed and unregisters it before its
outcome is recorded, so an abort never lands while that is written). When the worker shuts down,
tasks still running shortly before the shutdown bound are interrupted (WorkerShutdown) so they
are requeued before the process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dramatiq import Broker
from dramatiq.middleware import Middleware

from offload_shared import logs
from offload_shared.errors import OffloadError, TaskCancelled, WorkerShutdown
from offload_shared.sql import query
from offload_shared.worker_runtime import RuntimeHolder

log = logging.getLogger(__name__)

# What the shutdown needs after the interrupt, so the process exits within the bound: Dramatiq
# notices SIGTERM up to 1 s late (its worker process polls a flag each second), recording the
# requeues and stopping the consumers takes a few hundred ms, and its main process needs up to
# 1 s more to stop its log watcher before it exits.
SHUTDOWN_MARGIN_SECONDS = 3.5


class HeartbeatMiddleware(Middleware):
    def __init__(
        self,
        runtime: RuntimeHolder,
        *,
        interval_seconds: float,
        cancel_grace_seconds: float,
        shutdown_seconds: float,
        beacon: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.beacon = beacon  # the health port's sign of life: one touch per turn of the loop
        self.interval = interval_seconds
        self.cancel_grace = cancel_grace_seconds
        self.shutdown_seconds = shutdown_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self._stop.clear()
        self._beat()
        self._thread = threading.Thread(target=self._loop, name="offload-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        bound = max(0.0, self.shutdown_seconds - SHUTDOWN_MARGIN_SECONDS)
        timer = threading.Timer(bound, self._interrupt_remaining)
        timer.daemon = True
        timer.start()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()  # the runtime's close() takes the worker out of offload.workers
        if self._thread is not None:  # a beat in flight must not put its row back after that
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        if self.beacon is not None:
            self.beacon()
        runtime = self.runtime.get()
        if runtime.closed:
            return
        try:
            overdue = runtime.store.db.fetch_all(
                query("worker_heartbeat"),
                {**runtime.identity(), "grace_seconds": self.cancel_grace},
            )
        except OffloadError as exc:
            log.warning("heartbeat not written: %s", exc)
            return
        for row in overdue:
            fields = runtime.log_fields(row["id"])
            if runtime.abort(row["id"], TaskCancelled):
                log.warning(
                    "task %s ignored its cancel request; aborted it", row["id"],
                    extra={logs.EXTRA: fields},
                )  # fmt: skip

    def _interrupt_remaining(self) -> None:
        runtime = self.runtime.get()
        for task_id in runtime.running():
            fields = runtime.log_fields(task_id)
            if runtime.abort(task_id, WorkerShutdown):
                log.warning(
                    "task %s still running at the shutdown bound; requeueing it", task_id,
                    extra={logs.EXTRA: fields},
                )  # fmt: skip
