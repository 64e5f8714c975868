"""The status middleware around real actors: StubBroker for wiring, real Redis for delivery."""

import dataclasses
import logging
import threading
import time

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from marshmallow import Schema

from offload_shared import logs
from offload_shared.catalog import CATALOG, RetryPolicy, get_spec, register
from offload_shared.enqueue import new_task, submit
from offload_shared.errors import PermanentTaskError, RetryLater
from offload_shared.middleware.status import TaskStatusMiddleware
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor, worker_middleware
from tests.conftest import submit_task, wait_for
from tests.own_tasks import RESIZE
from tests.workers import drain

PARAMS = {"to": ["a@example.com"], "subject": "s", "body": "b"}  # as the schema loads it


class AnyParams(Schema):
    pass


FINISHED = ("completed", "failed", "cancelled")


def enqueue(db, broker, tenant, **kw):
    return submit_task(db, broker, tenant, params=PARAMS, **kw)


def finished(db, tenant, task):
    current = TaskStore(db).get(tenant, task.id)
    return current if current.status in FINISHED else None


def history(db, tenant, task):
    return [e.status for e in TaskStore(db).events(tenant, task.id)]


def test_success_records_running_then_completed_with_result(db, tenant, redis_broker, run_worker):
    seen = []

    @task_actor("email.send_notification", broker=redis_broker)
    def send(ctx):
        task = ctx.task
        seen.append((task.id, task.params, task.status))
        return {"sent": True}

    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.result, done.attempts) == ("completed", {"sent": True}, 1)
    assert seen == [(task.id, PARAMS, "running")]
    assert history(db, tenant, task) == ["pending", "running", "completed"]


def test_a_failure_is_retried_with_retry_count_then_completes(db, tenant, redis_broker, run_worker):
    calls = []

    @task_actor("email.send_notification", broker=redis_broker)
    def flaky(ctx):
        task = ctx.task
        calls.append(task.retry_count)
        if len(calls) == 1:
            raise TimeoutError("smtp timed out")
        return {"ok": True}

    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.retry_count, done.attempts) == ("completed", 1, 2)
    assert calls == [0, 1]
    assert history(db, tenant, task) == ["pending", "running", "pending", "running", "completed"]


def test_spent_retries_fail_the_task_with_its_last_error(db, tenant, redis_broker, run_worker):
    @task_actor("email.send_notification", broker=redis_broker)
    def broken(ctx):
        task = ctx.task
        raise ConnectionRefusedError(f"attempt {task.attempts}")

    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant, max_retries=2)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts, done.retry_count) == ("failed", 3, 2)
    assert done.error_message == "ConnectionRefusedError: attempt 3"
    assert done.completed_at is not None


def test_permanent_error_fails_at_once(db, tenant, redis_broker, run_worker):
    @task_actor("email.send_notification", broker=redis_broker)
    def rejected(ctx):
        raise PermanentTaskError("554 no such user")

    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant, max_retries=5)
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts) == ("failed", 1)
    assert "554 no such user" in done.error_message


def test_a_cancelled_task_is_skipped_and_never_runs(db, tenant, redis_broker, run_worker):
    ran = threading.Event()

    @task_actor("email.send_notification", broker=redis_broker)
    def send(ctx):
        task = ctx.task
        if task.params["subject"] == "cancelled":
            ran.set()
        return {}

    store = TaskStore(db)
    spec = get_spec("email.send_notification")
    cancelled = submit(
        store, Publisher(redis_broker), new_task(spec, tenant, {**PARAMS, "subject": "cancelled"})
    )
    store.cancel(tenant, cancelled.id)
    marker = enqueue(db, redis_broker, tenant)  # FIFO: handled after the cancelled one
    run_worker(redis_broker)
    wait_for(lambda: finished(db, tenant, marker))
    assert not ran.is_set()
    after = store.get(tenant, cancelled.id)
    assert (after.status, after.attempts, after.started_at) == ("cancelled", 0, None)


def test_actor_wiring_on_the_stub_broker(db, tenant, infra):
    broker = StubBroker(middleware=worker_middleware(infra.settings()))
    broker.emit_after("process_boot")

    @task_actor("reports.generate_excel", broker=broker)
    def report(ctx):
        task = ctx.task
        return {"rows": len(task.params["rows"])}

    spec = get_spec("reports.generate_excel")
    params = {"report_name": "r", "columns": ["a"], "rows": [[1], [2]]}
    task = submit(TaskStore(db), Publisher(broker), new_task(spec, tenant, params))
    drain(broker, "reports")
    done = TaskStore(db).get(tenant, task.id)
    assert (done.status, done.result) == ("completed", {"rows": 2})


def test_a_running_task_stops_at_its_checkpoint_after_a_cancel(
    db, tenant, redis_broker, run_worker
):
    started = threading.Event()
    checkpoints = []

    @task_actor("email.send_notification", broker=redis_broker)
    def long_job(ctx):
        started.set()
        for percent in range(0, 101):
            checkpoints.append(percent)
            ctx.checkpoint(percent)
            time.sleep(0.02)  # a slice of real work between checkpoints
        return {"finished": True}

    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant)
    assert started.wait(10)
    requested = TaskStore(db).cancel(tenant, task.id)
    assert (requested.status, requested.cancel_requested_at is not None) == ("running", True)
    done = wait_for(lambda: finished(db, tenant, task))
    assert done.status == "cancelled"
    assert done.result is None
    assert 0 < len(checkpoints) < 101
    assert history(db, tenant, task)[-1] == "cancelled"


POLICY_SPEC = dataclasses.replace(  # a team's own task, with a retry policy of its own
    RESIZE,
    name="tests.retry_policy",
    queue="email",
    params_schema=AnyParams,
    retry=RetryPolicy(base_seconds=0.05, jitter=0, permanent=(ValueError,)),
)


@pytest.fixture
def policy_spec():
    """A task type of the test's own, in the catalog only while the test runs."""
    yield register(POLICY_SPEC)
    CATALOG.pop(POLICY_SPEC.name, None)


def test_the_task_types_policy_names_its_permanent_errors(
    db, tenant, redis_broker, run_worker, policy_spec
):
    @task_actor(POLICY_SPEC.name, broker=redis_broker)
    def strict(ctx):
        raise ValueError("the record is malformed")

    run_worker(redis_broker)
    task = submit(TaskStore(db), Publisher(redis_broker), new_task(POLICY_SPEC, tenant, {}))
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts, done.retry_count) == ("failed", 1, 0)
    assert done.error_message == "ValueError: the record is malformed"


def test_retry_later_sets_the_next_attempt_in_so_many_seconds(
    db, tenant, redis_broker, run_worker, policy_spec
):
    @task_actor(POLICY_SPEC.name, broker=redis_broker)
    def busy(ctx):
        raise RetryLater("the mail server said 451: try again later", delay_seconds=30)

    run_worker(redis_broker)
    store = TaskStore(db)
    task = submit(store, Publisher(redis_broker), new_task(POLICY_SPEC, tenant, {}))
    waiting = wait_for(
        lambda: (t := store.get(tenant, task.id)).retry_count == 1 and t.status == "pending" and t
    )
    due_in = waiting.next_attempt_at.timestamp() - time.time()  # same host clock as Postgres
    assert 25 <= due_in <= 30  # not the policy's 0.05 s backoff
    assert waiting.error_message == "RetryLater: the mail server said 451: try again later"
    store.cancel(tenant, task.id)


def test_a_result_is_recorded_without_dramatiq_warning_it_was_discarded(
    db, tenant, redis_broker, run_worker, caplog
):
    @task_actor("email.send_notification", broker=redis_broker)
    def send(ctx):
        return {"sent": True}

    caplog.set_level("WARNING", logger="dramatiq")
    run_worker(redis_broker)
    task = enqueue(db, redis_broker, tenant)
    done = wait_for(lambda: finished(db, tenant, task))
    assert done.result == {"sent": True}
    assert "discarded" not in caplog.text


def test_an_unregistered_task_type_keeps_the_policy_it_was_declared_with(
    db, tenant, redis_broker, run_worker
):
    """Like the fault suite's actors: declared with task_actor, never in the catalog."""
    spec = dataclasses.replace(POLICY_SPEC, name="tests.unregistered_policy")

    @task_actor(spec, broker=redis_broker)
    def strict(ctx):
        raise ValueError("the record is malformed")

    run_worker(redis_broker)
    store = TaskStore(db)
    task = store.create(new_task(spec, tenant, {}))
    Publisher(redis_broker).publish([task])
    done = wait_for(lambda: finished(db, tenant, task))
    assert (done.status, done.attempts, done.retry_count) == ("failed", 1, 0)


def test_every_line_logged_while_a_task_runs_carries_its_fields_until_its_outcome(
    db, tenant, redis_broker, run_worker
):
    seen: list[tuple[str, object]] = []

    class Keep(logging.Handler):  # reads the fields as the formatter does, in the emitting thread
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith(("tests.", "offload_shared.middleware")):
                seen.append((record.getMessage(), logs.current_fields()))

    @task_actor("email.send_notification", broker=redis_broker)
    def send(ctx):
        logging.getLogger("tests.the_task").warning("from the task's own code")
        raise RuntimeError("no")  # then the middleware's own line about the attempt

    class AfterTheOutcome(dramatiq.Middleware):  # its after-hook runs after the status one's
        def after_process_message(self, broker, message, *, result=None, exception=None):
            seen.append(("after the outcome, in the worker thread", logs.current_fields()))

    redis_broker.add_middleware(AfterTheOutcome(), before=TaskStatusMiddleware)
    keep = Keep(logging.WARNING)
    logging.getLogger().addHandler(keep)
    try:
        run_worker(redis_broker)
        task = enqueue(db, redis_broker, tenant, max_retries=0, request_id="req-w")
        done = wait_for(lambda: finished(db, tenant, task))
        wait_for(lambda: len(seen) >= 3)
    finally:
        logging.getLogger().removeHandler(keep)
    fields = {
        "task_id": str(task.id), "task_name": "email.send_notification", "tenant": tenant,
        "attempt": 1, "queue": "email", "request_id": "req-w",
    }  # fmt: skip
    assert done.status == "failed"
    assert seen[0] == ("from the task's own code", fields)
    assert "raised RuntimeError" in seen[1][0]
    assert seen[1][1] == fields
    assert seen[2] == ("after the outcome, in the worker thread", None)
