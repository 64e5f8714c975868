"""The heartbeat's hard abort on real Postgres, with real threads: which thread runs which task
survives a duplicate delivery, and every run of a task can be aborted, not only the first."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from offload_shared import logs
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task
from offload_shared.errors import TaskCancelled
from offload_shared.middleware.heartbeat import HeartbeatMiddleware
from offload_shared.outbox import OutboxSweeper
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import RuntimeHolder, WorkerRuntime
from tests.conftest import wait_for

SPEC = get_spec("email.send_notification")
PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}
WORK_SECONDS = 20.0  # far longer than any test waits: a run ends only by its abort


@pytest.fixture
def runtime(db) -> WorkerRuntime:
    return WorkerRuntime(queue="email", store=TaskStore(db), outbox=OutboxSweeper(db))


@pytest.fixture
def heartbeat(runtime) -> Iterator[HeartbeatMiddleware]:
    middleware = HeartbeatMiddleware(
        RuntimeHolder(lambda: runtime),
        interval_seconds=0.05,
        cancel_grace_seconds=0,
        shutdown_seconds=5,
    )
    yield middleware
    middleware.after_worker_shutdown(None, None)  # type: ignore[arg-type]


class Run(threading.Thread):
    """A worker thread running one task, registered as the status middleware registers it."""

    def __init__(self, runtime: WorkerRuntime, task_id: uuid.UUID) -> None:
        super().__init__(daemon=True)
        self.runtime, self.task_id = runtime, task_id
        self.started_work = threading.Event()
        self.outcome: str | None = None

    def run(self) -> None:
        self.runtime.started(self.task_id)
        self.started_work.set()
        try:
            deadline = time.monotonic() + WORK_SECONDS
            while time.monotonic() < deadline:  # the task's own work, in small steps
                time.sleep(0.01)
            self.outcome = "ran to the end"
        except TaskCancelled:
            self.outcome = "aborted"
        finally:
            self.runtime.finished(self.task_id)


def running_with_cancel(store: TaskStore, runtime: WorkerRuntime, tenant: str, task_id=None):
    """A task claimed by this worker whose cancel request is already past the grace (0 s)."""
    task = store.create(new_task(SPEC, tenant, PARAMS)) if task_id is None else None
    task_id = task.id if task is not None else task_id
    claimed = store.claim(task_id, runtime.id)
    assert claimed is not None
    store.cancel(tenant, task_id)
    return claimed


def test_a_duplicate_delivery_does_not_make_the_running_task_unabortable(
    db, tenant, runtime, heartbeat
):
    store = TaskStore(db)
    task = running_with_cancel(store, runtime, tenant)
    run = Run(runtime, task.id)
    run.start()
    run.started_work.wait(5)
    # A second message for the same task reaches another thread of this process: the status
    # middleware skips it (the task is running), and its after_skip_message says finished.
    duplicate = threading.Thread(target=lambda: runtime.finished(task.id))
    duplicate.start()
    duplicate.join(5)
    assert runtime.running() == {task.id: run.ident}

    heartbeat.after_worker_boot(None, None)  # type: ignore[arg-type]
    wait_for(lambda: run.outcome, timeout=10)
    store.stop(task).wait()  # what the status middleware records after the abort
    assert run.outcome == "aborted"


def test_a_task_aborted_once_can_be_aborted_again_on_its_next_run(db, tenant, runtime, heartbeat):
    store = TaskStore(db)
    first = running_with_cancel(store, runtime, tenant)
    heartbeat.after_worker_boot(None, None)  # type: ignore[arg-type]
    run = Run(runtime, first.id)
    run.start()
    wait_for(lambda: run.outcome, timeout=10)
    store.stop(first).wait()  # it ends cancelled; then it is sent round again (POST .../retry)
    store.resubmit(tenant, first.id)

    second = running_with_cancel(store, runtime, tenant, first.id)  # attempt 2, same process
    again = Run(runtime, first.id)
    again.start()
    wait_for(lambda: again.outcome, timeout=10)
    store.stop(second).wait()
    assert (run.outcome, again.outcome) == ("aborted", "aborted")


def test_the_abort_line_written_by_the_heartbeat_carries_the_tasks_log_fields(
    db, tenant, runtime, heartbeat, caplog
):
    store = TaskStore(db)
    task = running_with_cancel(store, runtime, tenant)

    class BoundRun(Run):  # as the status middleware runs it: the task's fields bound first
        def run(self) -> None:
            logs.bind(logs.task_fields(task))
            super().run()

    run = BoundRun(runtime, task.id)
    with caplog.at_level(logging.WARNING, logger="offload_shared.middleware.heartbeat"):
        run.start()
        run.started_work.wait(5)
        heartbeat.after_worker_boot(None, None)  # type: ignore[arg-type]
        wait_for(lambda: run.outcome, timeout=10)
    store.stop(task).wait()
    [line] = [r for r in caplog.records if "ignored its cancel request" in r.getMessage()]
    assert getattr(line, logs.EXTRA) == logs.task_fields(task)
