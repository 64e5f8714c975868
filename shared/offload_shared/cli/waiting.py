"""--wait: follow one task until it finishes, with a deadline and a progress bar (on stderr)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from offload_shared.cli.exits import CliFailure, Exit
from offload_shared.cli.output import progress_bar

__all__ = ["DEFAULT_WAIT_SECONDS", "FINISHED", "wait_for_task"]

FINISHED = ("completed", "failed", "cancelled")
DEFAULT_WAIT_SECONDS = 300.0
FIRST_POLL, LAST_POLL = 0.1, 1.0  # seconds between reads: quick at first, then once a second


def wait_for_task(
    read: Callable[[], Mapping[str, Any]], label: str, timeout: float
) -> Mapping[str, Any]:
    """Read the task until its status is finished; its last state. Past `timeout` seconds:
    exit 5. The bar follows the task's own progress (0-100)."""
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL
    with progress_bar(100, label) as bar:
        while True:
            task = read()
            bar.to(int(task.get("progress") or 0))
            if task["status"] in FINISHED:
                if task["status"] == "completed":
                    bar.to(100)
                return task
            left = deadline - time.monotonic()
            if left <= 0:
                raise CliFailure(
                    f"task {task['task_id']} is still {task['status']} after {timeout:g} s",
                    Exit.TIMED_OUT,
                )
            time.sleep(min(pause, left))
            pause = min(LAST_POLL, pause * 1.5)
