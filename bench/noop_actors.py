"""The actor of `bench.noop`, declared with `task_actor` like every worker's actors."""

from __future__ import annotations

from bench.noop import NOOP
from offload_shared.models import Task
from offload_shared.worker import task_actor


@task_actor(NOOP)
def noop(task: Task) -> None:
    return None
