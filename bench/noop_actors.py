"""The actor of `bench.noop`, declared with `task_actor` like every worker's actors."""

from __future__ import annotations

from bench.noop import NOOP
from offload_shared.context import TaskContext
from offload_shared.worker import task_actor


@task_actor(NOOP)
def noop(ctx: TaskContext) -> None:
    return None
