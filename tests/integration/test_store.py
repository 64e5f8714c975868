import uuid

import pytest

from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task
from offload_shared.errors import TaskConflict, TaskNotFound
from offload_shared.models import TaskStatus
from offload_shared.store import TaskFilter, TaskStore

PARAMS = {"to": "a@example.com", "subject": "s", "body": "b"}


@pytest.fixture
def store(db):
    return TaskStore(db)


def create(store, tenant, name="email.send_notification", params=PARAMS, **kw):
    return store.create(new_task(get_spec(name), tenant, params, **kw))


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
    assert store.claim(task.id).attempts == 1
    retried = store.retry_later(task.id, "boom", 0.5)
    assert (retried.status, retried.retry_count, retried.error_message) == ("pending", 1, "boom")
    assert retried.next_attempt_at is not None
    store.claim(task.id)
    assert store.complete(task.id, {"ok": True}).wait()
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
    store.claim(task.id)
    assert store.fail(task.id, "SMTPDataError: 554 rejected").wait()
    failed = store.get(tenant, task.id)
    assert (failed.status, failed.error_message) == ("failed", "SMTPDataError: 554 rejected")
    assert store.fail(task.id, "again").wait() is None  # only a running task can fail


def test_claim_refuses_anything_not_pending(store, tenant):
    task = create(store, tenant)
    store.cancel(tenant, task.id)
    assert store.claim(task.id) is None
    assert store.claim(uuid.uuid4()) is None


def test_cancelling_a_running_task_requests_a_stop(store, tenant):
    task = create(store, tenant)
    store.claim(task.id)
    assert store.set_progress(task.id, 10) is False

    requested = store.cancel(tenant, task.id)
    assert requested.status == "running"
    assert requested.cancel_requested_at is not None
    assert store.cancel(tenant, task.id).cancel_requested_at == requested.cancel_requested_at
    assert store.set_progress(task.id, 20) is True
    assert store.retry_later(task.id, "boom", 1) is None  # no retry after a cancel request
    assert store.stop(task.id).wait()
    assert store.get(tenant, task.id).status == "cancelled"
    assert [e.detail for e in store.events(tenant, task.id)][-2:] == [
        "cancel requested",
        "stopped after a cancel request",
    ]


def test_cancelling_a_finished_task_is_a_conflict(store, tenant):
    task = create(store, tenant)
    store.claim(task.id)
    store.complete(task.id, {})
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
