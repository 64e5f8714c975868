"""metrics.py's counting: a process's counts in memory, every process's in one directory, and
the Prometheus text a scrape gets from them (parsed with prometheus_client's own parser)."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from offload_shared import metrics
from offload_shared.models import Task
from tests.conftest import wait_for


@pytest.fixture
def fresh(monkeypatch):
    """No directory (restored afterwards, whatever the test sets), and no counts from other
    tests in this process."""
    monkeypatch.setenv(metrics.DIR_ENV, "")
    monkeypatch.setattr(metrics, "_COUNTS", None)


@dataclass
class _Task:
    """What the counts read of a task."""

    queue: str
    task_name: str


def task(queue: str = "email", name: str = "email.send_notification") -> Task:
    return cast(Task, _Task(queue, name))


def outcomes(outcome: str) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {("queue", "email"), ("task_name", "email.send_notification"), ("outcome", outcome)}
    return "offload_task_outcomes_total", frozenset(labels)


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_counters_and_histograms_as_prometheus_reads_them(fresh):
    counts = metrics.counted()
    for outcome in ("completed", "completed", "failed"):
        counts.outcome(task(), outcome)
    for seconds in (0.004, 0.005, 0.3, 5000):  # 0.005 is on a bound: `le` holds it
        counts.run_time(task(), seconds)
    counts.reaped("requeued", 3)
    counts.request("/api/tasks/enqueue", "POST", 202, 0.002)
    read = samples(metrics.exposition(None))
    labels = {("queue", "email"), ("task_name", "email.send_notification")}
    assert (
        read[("offload_task_outcomes_total", frozenset(labels | {("outcome", "completed")}))] == 2
    )
    assert read[("offload_task_outcomes_total", frozenset(labels | {("outcome", "failed")}))] == 1

    def bucket(le: str) -> float:
        return read[("offload_task_run_seconds_bucket", frozenset(labels | {("le", le)}))]

    assert (bucket("0.005"), bucket("0.5"), bucket("3600.0"), bucket("+Inf")) == (2, 3, 3, 4)
    assert read[("offload_task_run_seconds_count", frozenset(labels))] == 4
    assert read[("offload_task_run_seconds_sum", frozenset(labels))] == pytest.approx(5000.309)
    assert read[("offload_tasks_reaped_total", frozenset({("result", "requeued")}))] == 3
    code = frozenset({("endpoint", "/api/tasks/enqueue"), ("method", "POST"), ("code", "202")})
    assert read[("offload_http_requests_total", code)] == 1


def _count_in_child(outcomes: int, flush: bool) -> None:
    counts = metrics.counted()  # the child's own, not the parent's (forked with it)
    for _ in range(outcomes):
        counts.outcome(task(), "completed")
    if flush:
        counts.flush()
    else:  # left to the flusher thread, within FLUSH_SECONDS
        wait_for(lambda: (metrics_dir() / f"{os.getpid()}.json").exists(), timeout=10)


def metrics_dir():
    return metrics._directory()


def test_a_scrape_adds_up_every_process_and_keeps_those_that_exited(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    directory = metrics.use_multiprocess("test")
    metrics.counted().outcome(task(), "completed")  # the parent counts too, and answers
    metrics.counted().flush()
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=_count_in_child, args=(n, n == 5)) for n in (5, 7)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    metrics.counted().outcome(task(), "completed")  # not in the parent's file yet: the scrape
    read = samples(metrics.exposition(None))  # writes it before it reads them all
    assert read[outcomes("completed")] == 1 + 5 + 7 + 1
    assert len(list(directory.glob("*.json"))) == 3


def test_a_service_start_removes_the_directories_of_services_that_have_exited(
    fresh, monkeypatch, tmp_path
):
    monkeypatch.setattr(metrics.tempfile, "tempdir", str(tmp_path))
    exited = multiprocessing.get_context("fork").Process(target=os.getpid)
    exited.start()
    exited.join()
    gone = tmp_path / f"offload-metrics-email-worker-{exited.pid}"
    running = tmp_path / f"offload-metrics-api-{os.getpid()}"  # this process: alive
    for directory in (gone, running):
        directory.mkdir()
    mine = metrics.use_multiprocess("reports-worker")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, mine.name])
