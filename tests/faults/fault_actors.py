"""Test-only tasks for the fault-injection suite, run by real worker processes.

They are not in the catalog (the API never accepts them): each has a TaskSpec of its own, is
enqueued with `offload_shared.enqueue.submit(store, publisher, new_task(SPEC, ...))`, and is
declared with `offload_shared.worker.task_actor`, like every worker's actors.

Every execution appends one line `<task id> <attempt> <pid>` to the file named by
OFFLOAD_FAULTS_EXECUTION_LOG (if set), so a test can count how often each task really ran,
whatever happened to Postgres or Redis meanwhile. Appends of one short line are atomic.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from marshmallow import INCLUDE, Schema

from offload_shared.catalog import TaskSpec
from offload_shared.context import TaskContext
from offload_shared.models import Task
from offload_shared.worker import task_actor

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


def _log_execution(ctx: TaskContext) -> Task:
    """Append this execution to the log first thing; returns the task."""
    task = ctx.task
    path = os.environ.get(EXECUTION_LOG_ENV)
    if path:
        with open(path, "a", encoding="ascii") as log:
            log.write(f"{task.id} {task.attempts} {os.getpid()}\n")
    return task


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(STEP_SECONDS, left))


@task_actor(WORK)
def work(ctx: TaskContext) -> dict[str, Any]:
    task = _log_execution(ctx)
    seconds = float(task.params.get("seconds", 0))
    if task.attempts == 1 or not task.params.get("first_attempt_only"):
        _sleep(seconds)
    return {"n": task.params.get("n"), "pid": os.getpid()}


@task_actor(FAILS)
def always_fails(ctx: TaskContext) -> None:
    task = _log_execution(ctx)
    raise RuntimeError(f"boom on attempt {task.attempts}")


@task_actor(KILLS_WORKER)
def kills_worker(ctx: TaskContext) -> None:
    _log_execution(ctx)
    os.kill(os.getpid(), signal.SIGKILL)


@task_actor(IGNORES_CANCEL)
def ignores_cancel(ctx: TaskContext) -> dict[str, Any]:
    task = _log_execution(ctx)
    _sleep(float(task.params.get("seconds", 60)))
    return {"finished": True}


SPECS = (WORK, FAILS, KILLS_WORKER, IGNORES_CANCEL)
