"""`python -m bench.counting`: what counting one task's metrics costs a worker process.

A worker counts three things per task (its queue wait and run time, two histograms, and its
outcome, a counter). This times them as Offload counts them (offload_shared/metrics.py: each
thread's own totals, written to the service's directory once a second) beside prometheus_client's
own Histogram and Counter in its multiprocess mode (an mmap'd file per process, a lock per
value), which the first version used: in a forked process, with 8 threads counting at once (a
worker's default) and with one. It prints CPU microseconds per task, the process's CPU time over
the tasks counted; the machine's noise moves them, so compare the two rows of one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from offload_shared import metrics
from offload_shared.models import Task

Count = Callable[[Task], None]


@dataclass(frozen=True)
class _Task:
    queue: str
    task_name: str


def offload() -> Count:
    metrics.use_multiprocess(f"bench-counting-{os.getpid()}")
    counts = metrics.counted()

    def count(task: Task) -> None:
        counts.queue_wait(task, 0.01)
        counts.run_time(task, 0.002)
        counts.outcome(task, "completed")

    return count


def prometheus_multiprocess() -> Count:
    directory = tempfile.mkdtemp(prefix="bench-counting-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from prometheus_client import Counter, Histogram, values

    values.ValueClass = values.get_value_class()  # chosen at import: now multiprocess
    labels = ["queue", "task_name"]
    wait = Histogram("wait_seconds", "", labels, buckets=metrics.TASK_BUCKETS)
    run = Histogram("run_seconds", "", labels, buckets=metrics.TASK_BUCKETS)
    outcomes = Counter("outcomes", "", [*labels, "outcome"])

    def count(task: Task) -> None:
        wait.labels(task.queue, task.task_name).observe(0.01)
        run.labels(task.queue, task.task_name).observe(0.002)
        outcomes.labels(task.queue, task.task_name, "completed").inc()

    return count


WAYS = {"offload": offload, "prometheus_client multiprocess": prometheus_multiprocess}


def measure(way: str, threads: int, tasks: int, report: multiprocessing.SimpleQueue) -> None:
    count = WAYS[way]()
    names = [cast(Task, _Task("email", f"email.task{i}")) for i in range(3)]

    def work() -> None:
        for i in range(tasks):
            count(names[i % 3])

    began = time.process_time()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report.put((time.process_time() - began) / (tasks * threads) * 1e6)
    for variable in (metrics.DIR_ENV, "PROMETHEUS_MULTIPROC_DIR"):
        if os.environ.get(variable):
            shutil.rmtree(os.environ[variable], ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="per thread")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    fork = multiprocessing.get_context("fork")
    print("| counting, CPU µs per task | 8 threads | 1 thread |\n|---|---|---|")
    for _ in range(args.rounds):
        for way in WAYS:
            figures = []
            for threads in (8, 1):
                report = fork.SimpleQueue()
                child = fork.Process(target=measure, args=(way, threads, args.tasks, report))
                child.start()
                child.join()
                figures.append(f"{report.get():.1f}")
            print(f"| {way} | {' | '.join(figures)} |", flush=True)


if __name__ == "__main__":
    main()
