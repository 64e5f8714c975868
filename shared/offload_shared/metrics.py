"""Prometheus metrics: what each process counts, and the figures every process reads from
Postgres.

Counted where it happens, in the process it happens in:
- offload_task_outcomes_total{queue,task_name,outcome}: completed, failed, retried, cancelled,
  counted by the TaskStore when the transition lands (a worker's outcomes once committed; a
  pending task cancelled through the API by the API);
- offload_task_queue_wait_seconds / offload_task_run_seconds{queue,task_name}: histograms,
  from the task becoming due to its start, and of the task function's run (workers);
- offload_tasks_reaped_total{result}: attempts the scheduler's reaper gave up on (requeued,
  ended);
- offload_http_requests_total{endpoint,method,code} and
  offload_http_request_duration_seconds{endpoint,method} (the API).
A service that runs several processes (Dramatiq's worker processes, granian's API workers)
counts in prometheus_client's multiprocess mode: each process writes its own files under one
directory, made fresh when the service starts (`use_multiprocess`), and a scrape sums them, so
no scrape shows one process's view.

Beside them, every scrape carries the gauges read from Postgres (gauges.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from offload_shared.models import Task

__all__ = [
    "CONTENT_TYPE",
    "counted",
    "exposition",
    "use_multiprocess",
]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: tasks run from milliseconds (an email) to many minutes (a report).
TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


def use_multiprocess(service: str) -> Path:
    """Count in multiprocess mode from here on, in this process and the ones it starts: a
    fresh directory for this service's run. Call it before the processes that count start
    (they inherit the variable, or the module state if forked) and before anything is
    counted here."""
    directory = Path(tempfile.gettempdir()) / f"offload-metrics-{service}-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # prometheus_client chose at its import
    return directory


def _multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


@dataclass(frozen=True)
class Counted:
    """This process's counters and histograms (one set per process: `counted()`)."""

    registry: CollectorRegistry | None  # None in multiprocess mode: the files are the registry
    outcomes: Counter
    queue_wait: Histogram
    run_time: Histogram
    reaped: Counter
    requests: Counter
    request_seconds: Histogram

    def outcome(self, task: Task, outcome: str) -> None:
        self.outcomes.labels(task.queue, task.task_name, outcome).inc()


@cache
def counted() -> Counted:
    multiprocess = _multiprocess_dir() is not None
    registry = None if multiprocess else CollectorRegistry(auto_describe=True)
    task_labels = ["queue", "task_name"]
    return Counted(
        registry=registry,
        outcomes=Counter(
            "offload_task_outcomes", "Attempts' outcomes: completed, failed, retried, cancelled",
            [*task_labels, "outcome"], registry=registry,
        ),
        queue_wait=Histogram(
            "offload_task_queue_wait_seconds", "From a task being due to its attempt's start",
            task_labels, buckets=TASK_BUCKETS, registry=registry,
        ),
        run_time=Histogram(
            "offload_task_run_seconds", "How long a task function ran, whatever its outcome",
            task_labels, buckets=TASK_BUCKETS, registry=registry,
        ),
        reaped=Counter(
            "offload_tasks_reaped", "Attempts the reaper gave up on (worker lost or overran)",
            ["result"], registry=registry,
        ),
        requests=Counter(
            "offload_http_requests", "API requests answered",
            ["endpoint", "method", "code"], registry=registry,
        ),
        request_seconds=Histogram(
            "offload_http_request_duration_seconds", "API requests' time in the app",
            ["endpoint", "method"], buckets=HTTP_BUCKETS, registry=registry,
        ),
    )  # fmt: skip


def exposition(figures: Collector | None) -> bytes:
    """The text a scrape gets: this service's counts (every process's) and the figures."""
    directory = _multiprocess_dir()
    if directory is not None:
        own = CollectorRegistry()
        MultiProcessCollector(own, path=directory)
    else:
        own = counted().registry or CollectorRegistry()
    text = generate_latest(own)
    if figures is not None:
        read = CollectorRegistry()
        read.register(figures)
        text += generate_latest(read)
    return text
