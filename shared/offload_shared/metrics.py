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

Counting is a dict update in plain Python, into totals of the counting thread's own (no lock):
it sits on a worker's path for every task. prometheus_client's own values (a lock and, in its
multiprocess mode, an mmap write per value) cost 15-23 µs of CPU per task from one thread and
40-107 µs with 8 threads counting at once; these, 3-4 µs either way (`python -m bench.counting`).

A service that runs several processes (Dramatiq's worker processes, granian's API workers)
gives them one directory, made fresh when the service starts (`use_multiprocess`). Each process
writes its totals there as one file, at most FLUSH_SECONDS after it counted and when its worker
shuts down; a scrape adds up every file (those of processes that have exited too, so that no
counter goes back), so no scrape shows one process's view, and it lags by FLUSH_SECONDS at most.
prometheus_client renders the text.

Beside them, every scrape carries the gauges read from Postgres (gauges.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from offload_shared.models import Task

__all__ = [
    "CONTENT_TYPE",
    "DIR_ENV",
    "TASK_BUCKETS",
    "counted",
    "exposition",
    "use_multiprocess",
]

log = logging.getLogger(__name__)

DIR_ENV = "_OFFLOAD_METRICS_DIR"  # set by use_multiprocess for a service's processes; not config
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FLUSH_SECONDS = 1.0
# Seconds: tasks run from milliseconds (an email) to many minutes (a report).
TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


@dataclass(frozen=True)
class Spec:
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None  # a histogram's upper bounds; None: a counter


OUTCOMES = Spec("offload_task_outcomes", "Attempts' outcomes: completed, failed, retried, "
                "cancelled", ("queue", "task_name", "outcome"))  # fmt: skip
QUEUE_WAIT = Spec("offload_task_queue_wait_seconds", "From a task being due to its attempt's start",
                  ("queue", "task_name"), TASK_BUCKETS)  # fmt: skip
RUN_TIME = Spec("offload_task_run_seconds", "How long a task function ran, whatever its outcome",
                ("queue", "task_name"), TASK_BUCKETS)  # fmt: skip
REAPED = Spec("offload_tasks_reaped", "Attempts the reaper gave up on (worker lost or overran)",
              ("result",))  # fmt: skip
REQUESTS = Spec("offload_http_requests", "API requests answered", ("endpoint", "method", "code"))
REQUEST_SECONDS = Spec("offload_http_request_duration_seconds", "API requests' time in the app",
                       ("endpoint", "method"), HTTP_BUCKETS)  # fmt: skip
SPECS = {s.name: s for s in (OUTCOMES, QUEUE_WAIT, RUN_TIME, REAPED, REQUESTS, REQUEST_SECONDS)}

Key = tuple[str, tuple[str, ...]]  # (metric name, label values)
Totals = dict[Key, list[float]]  # a counter: [value]; a histogram: [per bucket ..., +Inf, sum]


class Counts:
    """This process's counts (`counted()`), and their file in the service's directory.

    Each thread adds to totals of its own, so counting takes no lock (and loses no update to
    another thread's); reading them merges every thread's."""

    def __init__(self, directory: Path | None) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._threads: list[Totals] = []  # every counting thread's totals, kept once it ends
        self._file = directory / f"{os.getpid()}.json" if directory is not None else None
        self._due = threading.Event()  # set: counts not yet written to the file
        self._writing = threading.Lock()  # one flush at a time: they share the .part file
        self._flusher: threading.Thread | None = None

    # -- what the services count --------------------------------------------------------------

    def outcome(self, task: Task, outcome: str) -> None:
        self._add(OUTCOMES, (task.queue, task.task_name, outcome))

    def queue_wait(self, task: Task, seconds: float) -> None:
        self._observe(QUEUE_WAIT, (task.queue, task.task_name), seconds)

    def run_time(self, task: Task, seconds: float) -> None:
        self._observe(RUN_TIME, (task.queue, task.task_name), seconds)

    def reaped(self, result: str, count: int) -> None:
        self._add(REAPED, (result,), count)

    def request(self, endpoint: str, method: str, code: int, seconds: float) -> None:
        self._add(REQUESTS, (endpoint, method, str(code)))
        self._observe(REQUEST_SECONDS, (endpoint, method), seconds)

    def _mine(self) -> Totals:
        try:
            return self._local.totals  # type: ignore[no-any-return]
        except AttributeError:
            totals: Totals = {}
            self._local.totals = totals
            with self._lock:
                self._threads.append(totals)
            return totals

    def _add(self, spec: Spec, labels: tuple[str, ...], amount: float = 1) -> None:
        totals = self._mine()
        total = totals.get((spec.name, labels))
        if total is None:
            total = totals[(spec.name, labels)] = [0.0]
        total[0] += amount
        self._counted()

    def _observe(self, spec: Spec, labels: tuple[str, ...], value: float) -> None:
        bounds = spec.buckets or ()
        totals = self._mine()
        total = totals.get((spec.name, labels))
        if total is None:
            total = totals[(spec.name, labels)] = [0.0] * (len(bounds) + 2)
        total[bisect_left(bounds, value)] += 1  # the first bound >= value (Prometheus' `le`)
        total[-1] += value
        self._counted()

    # -- the file -------------------------------------------------------------------------------

    def _counted(self) -> None:
        if self._file is None or self._due.is_set():
            return
        self._due.set()
        if self._flusher is None:
            with self._lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="offload-metrics", daemon=True
                    )
                    self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            self._due.wait()
            time.sleep(FLUSH_SECONDS)  # pacing: a second's counts go in one write
            self.flush()

    def flush(self) -> None:
        """Write this process's totals to its file now (a no-op without a directory)."""
        if self._file is None:
            return
        part = self._file.with_suffix(".part")
        with self._writing:  # the flusher, a scrape and the shutdown may flush at once
            self._due.clear()
            totals = self.totals()
            text = json.dumps([[name, labels, values] for (name, labels), values in totals])
            try:
                part.write_text(text, encoding="utf-8")
                part.replace(self._file)  # a scrape reads the old file or the new, never half
            except OSError as exc:
                log.warning("metrics not written: %s", exc)

    def totals(self) -> list[tuple[Key, list[float]]]:
        """Every thread's totals, added up (copies: a dict's and a list's copy are each one
        step another thread cannot come between)."""
        with self._lock:
            threads = list(self._threads)
        return list(_summed(
            (key, values.copy()) for totals in threads for key, values in totals.copy().items()
        ).items())  # fmt: skip


_COUNTS: Counts | None = None
_COUNTS_LOCK = threading.Lock()


def counted() -> Counts:
    """This process's counts (a forked child starts its own)."""
    global _COUNTS
    counts = _COUNTS
    if counts is None:
        with _COUNTS_LOCK:
            if _COUNTS is None:
                _COUNTS = Counts(_directory())
            counts = _COUNTS
    return counts


def _forget_after_fork() -> None:
    global _COUNTS, _COUNTS_LOCK
    _COUNTS, _COUNTS_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _directory() -> Path | None:
    value = os.environ.get(DIR_ENV)
    return Path(value) if value else None


def use_multiprocess(service: str) -> Path:
    """Count into one directory from here on, in this process and the ones it starts: a fresh
    one for this service's run. Call it before the processes that count start (they inherit the
    variable) and before anything is counted here."""
    global _COUNTS
    parent = Path(tempfile.gettempdir())
    _sweep(parent)
    directory = parent / f"offload-metrics-{service}-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    os.environ[DIR_ENV] = str(directory)
    _COUNTS = None
    return directory


def _sweep(parent: Path) -> None:
    """Remove the directories of services that have exited (a restart makes a new one; the API
    execs granian, so no exit hook of its own could)."""
    for directory in parent.glob("offload-metrics-*-*"):
        pid = directory.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive: another user's process
        pass
    return True


def _read(directory: Path) -> Iterator[tuple[Key, list[float]]]:
    for path in sorted(directory.glob("*.json")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("metrics file %s not read: %s", path.name, exc)
            continue
        for name, labels, values in entries:
            yield (name, tuple(labels)), values


def _summed(entries: Iterable[tuple[Key, list[float]]]) -> Totals:
    summed: Totals = {}
    for key, values in entries:
        total = summed.setdefault(key, [0.0] * len(values))
        for i, value in enumerate(values):
            total[i] += value
    return summed


class _Collected(Collector):
    """The service's counts as metric families: every process's files, or this process's."""

    def collect(self) -> Iterator[Metric]:
        directory = _directory()
        if directory is not None:
            counted().flush()  # the process answering the scrape may have counted too
            entries = list(_read(directory))
        else:
            entries = counted().totals()
        summed = _summed(entries)
        for spec in SPECS.values():
            yield _family(spec, {k[1]: v for k, v in summed.items() if k[0] == spec.name})


def _family(spec: Spec, series: dict[tuple[str, ...], list[float]]) -> Metric:
    labels = list(spec.labels)
    if spec.buckets is None:
        counter = CounterMetricFamily(spec.name, spec.help, labels=labels)
        for values, total in sorted(series.items()):
            counter.add_metric(list(values), total[0])
        return counter
    histogram = HistogramMetricFamily(spec.name, spec.help, labels=labels)
    bounds = [*(str(float(b)) for b in spec.buckets), "+Inf"]
    for values, total in sorted(series.items()):
        cumulative, running = [], 0.0
        for bound, count in zip(bounds, total[:-1], strict=True):
            running += count
            cumulative.append((bound, running))
        histogram.add_metric(list(values), cumulative, sum_value=total[-1])
    return histogram


def exposition(figures: Collector | None) -> bytes:
    """The text a scrape gets: this service's counts (every process's) and the figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collected())
    if figures is not None:
        registry.register(figures)
    return generate_latest(registry)
