"""The gauges every /metrics carries, read from Postgres at a scrape and cached CACHE_SECONDS per
process: the same whichever process is asked (aggregate them with max(), not sum(), across
targets), and cheap (partial indexes; one read per process per few seconds, whatever the
number of labels or scrapers).

- offload_queue_tasks{queue,state}: pending tasks ready, delayed (a delay or a retry's
  backoff), waiting (held by a task limit), and running ones;
- offload_queue_backlog{queue}: what KEDA scales each worker by (its ScaledObject's query);
- offload_queue_oldest_ready_age_seconds{queue};
- offload_outbox_due, offload_outbox_lag_seconds: what the relay has yet to publish;
- offload_workers_alive{queue}: worker processes with a recent heartbeat;
- offload_postgres_figures_up: 0 when Postgres did not answer (the others are left out).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from offload_shared import operations
from offload_shared.db import Database
from offload_shared.errors import OffloadError
from offload_shared.metrics import exposition
from offload_shared.settings import Settings

__all__ = [
    "PostgresFigures",
    "scrape",
]

CACHE_SECONDS = 5.0
TASK_STATES = ("ready", "delayed", "waiting", "running")


class PostgresFigures(Collector):
    """The figures read from Postgres, as gauges; read at most every CACHE_SECONDS."""

    def __init__(self, db: Database, *, lost_seconds: float) -> None:
        self.db = db
        self.lost_seconds = lost_seconds
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= CACHE_SECONDS:
                self._families = self._read()
                self._read_at = time.monotonic()
            families = self._families
        yield from families

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("offload_postgres_figures_up", "1: the figures below are fresh")
        try:
            queues = operations.queue_stats(self.db, None, finished=False)
            outbox = operations.outbox_lag(self.db)
            workers = operations.workers(self.db, None, lost_seconds=self.lost_seconds)
        except OffloadError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        tasks = GaugeMetricFamily(
            "offload_queue_tasks",
            "Tasks per queue and state (pending split by why it waits)",
            labels=["queue", "state"],
        )
        backlog = GaugeMetricFamily(
            "offload_queue_backlog",
            "What KEDA scales the worker by: running, ready within 30 s",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "offload_queue_oldest_ready_age_seconds",
            "How long the oldest ready task has waited",
            labels=["queue"],
        )
        alive = GaugeMetricFamily(
            "offload_workers_alive", "Worker processes with a recent heartbeat", labels=["queue"]
        )
        for q in queues:
            for state in TASK_STATES:
                tasks.add_metric([q.queue, state], getattr(q, state))
            backlog.add_metric([q.queue], q.backlog)
            oldest.add_metric([q.queue], q.oldest_ready_age_seconds or 0.0)
        by_queue = {q.queue: 0 for q in queues}
        for w in workers:
            by_queue[w.queue] = by_queue.get(w.queue, 0) + w.alive
        for queue, count in sorted(by_queue.items()):
            alive.add_metric([queue], count)
        due = GaugeMetricFamily("offload_outbox_due", "Outbox rows due for the relay")
        due.add_metric([], outbox.due)
        lag = GaugeMetricFamily("offload_outbox_lag_seconds", "Age of the oldest due outbox row")
        lag.add_metric([], outbox.lag_seconds)
        return [up, tasks, backlog, oldest, alive, due, lag]  # fmt: skip


def scrape(settings: Settings) -> Callable[[], bytes]:
    """What a health port's /metrics answers: this service's counts and the gauges, read
    through a connection of their own."""
    db = Database(settings.database_url, max_size=1, application_name="offload-metrics")
    figures = PostgresFigures(db, lost_seconds=settings.worker_lost_seconds)
    return functools.partial(exposition, figures)
