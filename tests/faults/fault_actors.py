"""Test-only tasks for the fault-injection suite, run by real worker processes.

They are not in the catalog (the API never accepts them): each has a TaskSpec of its own, is
enqueued with `offload_shared.enqueue.submit(store, publisher, new_task(SPEC, ...))`, and is
declared here exactly as `offload_shared.worker.task_actor` declares a catalog actor: on the
worker broker, with the same middleware, options and result handling.

Every execution appends one line `<task id> <attempt> <pid>` to the file named by
OFFLOAD_FAULTS_EXECUTION_LOG (if set), so a test can count how often each task really ran,
whatever happened to Postgres or Redis meanwhile. Appends of one short line are atomic.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from marshmallow import INCLUDE, Schema

from offload_shared.catalog import TaskSpec
from offload_shared.errors import Interrupt
from offload_shared.middleware.status import current_task, set_result
from offload_shared.models import Task
from offload_shared.worker import worker_broker

QUEUE = "faults"
EXECUTION_LOG_ENV = "OFFLOAD_FAULTS_EXECUTION_LOG"
STEP_SECONDS = 0.02  # long tasks sleep in small steps, so an async exception lands promptly


class AnyParams(Schema):
    class Meta:
        unknown = INCLUDE


def _spec(name: str, *, max_retries: int = 3, time_limit_s: int = 120) -> TaskSpec:
    return TaskSpec(
        name=f"faults.{name}",
        category="faults",
        queue=QUEUE,
        params_schema=AnyParams,
        default_priority=5,
        default_max_retries=max_retries,
        time_limit_ms=time_limit_s * 1000,
        description=f"fault-injection test task {name}",
    )


WORK = _spec("work")  # sleeps params["seconds"] (only on attempt 1 if "first_attempt_only")
FAILS = _spec("always_fails", max_retries=2)  # raises on every attempt
KILLS_WORKER = _spec("kills_worker", max_retries=2)  # SIGKILLs its own worker process
IGNORES_CANCEL = _spec("ignores_cancel")  # runs for params["seconds"], never checks for a cancel


def _declare(spec: TaskSpec) -> Callable[[Callable[[Task], Any]], Callable[[Task], Any]]:
    """The same actor declaration as offload_shared.worker.task_actor, for a spec of ours."""

    def decorate(fn: Callable[[Task], Any]) -> Callable[[Task], Any]:
        @functools.wraps(fn)
        def run() -> None:
            task = current_task()
            _log_execution(task)
            set_result(fn(task))

        dramatiq.actor(
            actor_name=spec.name,
            queue_name=spec.queue,
            time_limit=spec.time_limit_ms,
            throws=(Exception, Interrupt),
            broker=worker_broker(),
        )(run)
        return fn

    return decorate


def _log_execution(task: Task) -> None:
    path = os.environ.get(EXECUTION_LOG_ENV)
    if path:
        with open(path, "a", encoding="ascii") as log:
            log.write(f"{task.id} {task.attempts} {os.getpid()}\n")


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(STEP_SECONDS, left))


@_declare(WORK)
def work(task: Task) -> dict[str, Any]:
    seconds = float(task.params.get("seconds", 0))
    if task.attempts == 1 or not task.params.get("first_attempt_only"):
        _sleep(seconds)
    return {"n": task.params.get("n"), "pid": os.getpid()}


@_declare(FAILS)
def always_fails(task: Task) -> None:
    raise RuntimeError(f"boom on attempt {task.attempts}")


@_declare(KILLS_WORKER)
def kills_worker(task: Task) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@_declare(IGNORES_CANCEL)
def ignores_cancel(task: Task) -> dict[str, Any]:
    _sleep(float(task.params.get("seconds", 60)))
    return {"finished": True}


SPECS = (WORK, FAILS, KILLS_WORKER, IGNORES_CANCEL)
