import uuid

import pytest

from offload_shared import transitions as tr
from offload_shared.errors import TaskConflict, TaskNotFound
from offload_shared.group_commit import GroupCommit, Write
from offload_shared.models import TaskStatus
from offload_shared.store import TaskFilter, TaskStore
from tests.conftest import create_task

PARAMS = {"to": "a@example.com", "subject": "s", "body": "b"}


@pytest.fixture
def store(db):
    return TaskStore(db)


def create(store, tenant, name="email.send_notification", params=PARAMS, **kw):
    return create_task(store.db, tenant, name, params, **kw)


def history(store, tenant, task):
    return [(e.status, e.attempt) for e in store.events(tenant, task.id)]


def test_create_applies_catalog_defaults_and_records_history(store, tenant):
    task = create(store, tenant)
    assert task.status is TaskStatus.PENDING
    assert (task.priority, task.max_retries, task.queue) == (3, 3, "email")
    assert store.get(tenant, task.id) == task
    assert history(store, tenant, task) == [("pending", 0)]


def test_transitions_each_append_history(store, tenant):
    task = create(store, tenant, max_retries=1)
    first = store.claim(task.id)
    assert first.attempts == 1
    retried = store.retry_later(first, "boom", 0.5)
    assert (retried.status, retried.retry_count, retried.error_message) == ("pending", 1, "boom")
    assert retried.next_attempt_at is not None
    second = store.claim(task.id)
    assert store.complete(first, {"ok": True}).wait() is None  # the first attempt is over
    assert store.complete(second, {"ok": True}).wait()
    done = store.get(tenant, task.id)
    assert (done.status, done.result, done.error_message) == ("completed", {"ok": True}, None)
    assert done.completed_at is not None
    assert history(store, tenant, task) == [
        ("pending", 0),
        ("running", 1),
        ("pending", 1),
        ("running", 2),
        ("completed", 2),
    ]


def test_failed_keeps_the_error(store, tenant):
    task = create(store, tenant)
    claimed = store.claim(task.id)
    assert store.fail(claimed, "SMTPDataError: 554 rejected").wait()
    failed = store.get(tenant, task.id)
    assert (failed.status, failed.error_message) == ("failed", "SMTPDataError: 554 rejected")
    assert store.fail(claimed, "again").wait() is None  # only a running task can fail


def test_claim_refuses_anything_not_pending(store, tenant):
    task = create(store, tenant)
    store.cancel(tenant, task.id)
    assert store.claim(task.id) is None
    assert store.claim(uuid.uuid4()) is None


def test_cancelling_a_running_task_requests_a_stop(store, tenant):
    task = create(store, tenant)
    claimed = store.claim(task.id)
    assert store.set_progress(task.id, 10) is False

    requested = store.cancel(tenant, task.id)
    assert requested.status == "running"
    assert requested.cancel_requested_at is not None
    assert store.cancel(tenant, task.id).cancel_requested_at == requested.cancel_requested_at
    assert store.set_progress(task.id, 20) is True
    assert store.retry_later(claimed, "boom", 1) is None  # no retry after a cancel request
    assert store.stop(claimed).wait()
    assert store.get(tenant, task.id).status == "cancelled"
    assert [e.detail for e in store.events(tenant, task.id)][-2:] == [
        "cancel requested",
        "stopped after a cancel request",
    ]


def test_cancelling_a_finished_task_is_a_conflict(store, tenant):
    task = create(store, tenant)
    store.complete(store.claim(task.id), {})
    with pytest.raises(TaskConflict):
        store.cancel(tenant, task.id)


def test_tenants_are_isolated(store, tenant):
    task = create(store, tenant)
    with pytest.raises(TaskNotFound):
        store.get("someone-else", task.id)
    with pytest.raises(TaskNotFound):
        store.cancel("someone-else", task.id)
    assert store.count("someone-else", TaskFilter()) == 0


def test_list_and_count_filter_and_page(store, tenant):
    emails = [create(store, tenant) for _ in range(3)]
    report = create(
        store, tenant, "reports.generate_excel", {"report_name": "r", "columns": ["a"], "rows": []}
    )
    store.cancel(tenant, emails[0].id)

    assert store.count(tenant, TaskFilter()) == 4
    assert store.count(tenant, TaskFilter(task_type="email")) == 3
    assert store.count(tenant, TaskFilter(status=TaskStatus.CANCELLED)) == 1
    assert store.count(tenant, TaskFilter(task_name="reports.generate_excel")) == 1

    newest_first = store.find(tenant, TaskFilter(), limit=10, offset=0)
    assert [t.id for t in newest_first] == [report.id, *[e.id for e in reversed(emails)]]
    page = store.find(tenant, TaskFilter(task_type="email"), limit=2, offset=2)
    assert [t.id for t in page] == [emails[0].id]


def test_a_retry_after_a_cut_off_commit_reports_what_had_landed(db, store, tenant):
    # A connection cut at commit leaves the writer unsure: the try may have committed unheard.
    # The retry then finds nothing to move, and must still report the claim and the outcome
    # that landed (else the worker would skip a task left running in its name).
    task, other = create(store, tenant), create(store, tenant)
    worker = uuid.uuid4()
    claimed = store.claim(task.id, worker)  # the try whose reply was lost
    writer = GroupCommit(db)
    claim_again = Write(tr.CLAIM, {"id": task.id, "worker_id": worker})
    claim_other = Write(tr.CLAIM, {"id": other.id, "worker_id": worker})
    writer._flush([claim_again, claim_other], unsure=True)
    assert claim_again.wait()["attempts"] == 1  # reported as claimed, not claimed twice
    assert claim_other.wait()["worker_id"] == worker  # the batch's own work is done too

    store.complete(claimed, {"n": 1}).wait()  # the outcome's lost reply
    again = Write(tr.COMPLETE, {"id": task.id, "attempt": 1, "worker_id": worker, "result": {}})
    writer._flush([again], unsure=True)
    assert again.wait() == {"id": task.id}
    assert history(store, tenant, task) == [("pending", 0), ("running", 1), ("completed", 1)]

    sure = Write(tr.CLAIM, {"id": task.id, "worker_id": worker})
    writer._flush([sure])  # without the doubt, a finished task is not claimed
    assert sure.wait() is None
