"""Firing schedules (offload_shared.schedule_firing) against real Postgres and Redis: one
transaction per schedule, one run and one task per fire time however many passes race, the
misfire policies after a downtime, and runs that cannot enqueue."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from offload_scheduler.reaper import housekeeping
from offload_shared.broker import make_broker
from offload_shared.catalog import get_spec
from offload_shared.db import Json
from offload_shared.publisher import Publisher
from offload_shared.schedule_firing import fire, fire_due
from offload_shared.schedules import ScheduleFields, ScheduleStore
from tests.conftest import wait_for
from tests.queues import message_ids

GRACE = timedelta(seconds=60)


@pytest.fixture
def publisher(infra, redis_client) -> Iterator[Publisher]:
    publisher = Publisher(make_broker(infra.redis_url))
    yield publisher
    publisher.close()


@pytest.fixture
def store(db, tenant) -> Iterator[ScheduleStore]:
    """The schedule store; the test tenant's schedules are deleted afterwards (and its tasks
    with them from the outbox), so no later scheduler fires or publishes them."""
    yield ScheduleStore(db)
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [tenant])
        conn.execute(
            "DELETE FROM offload.outbox WHERE task_id IN "
            "(SELECT id FROM offload.tasks WHERE tenant = %s)",
            [tenant],
        )


def make(store, tenant, *, task_name="cleanup.old_records", params=None, **rule):
    spec = get_spec(task_name)
    fields = ScheduleFields(
        name=f"s-{uuid.uuid4().hex[:8]}", task_name=task_name,
        params=spec.load_params({} if params is None else params),
        **(rule if "cron" in rule or "every_seconds" in rule else {"every_seconds": 60, **rule}),
    )  # fmt: skip
    return store.create(tenant, fields, datetime.now(UTC))


def set_next_run(db, schedule_id, at):
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.schedules SET next_run_at = %s WHERE id = %s", [at, schedule_id]
        )


def runs_of(db, schedule_id):
    return db.fetch_all(
        "SELECT r.*, t.params, t.priority, t.status, t.request_id FROM offload.schedule_runs r "
        "LEFT JOIN offload.tasks t ON t.id = r.task_id "
        "WHERE r.schedule_id = %s ORDER BY r.fire_time",
        [schedule_id],
    )


def fixed(now):
    return lambda: now


def test_a_due_schedule_fires_its_task_with_history_and_outbox_rows_and_publishes_it(
    db, store, tenant, publisher, redis_client
):
    schedule = make(store, tenant, params={"days_to_keep": 7}, priority=6)
    now = datetime.now(UTC).replace(microsecond=0)
    due = now - timedelta(seconds=2)
    set_next_run(db, schedule.id, due)
    fire_due(db, publisher, grace=GRACE, clock=fixed(now))
    [run] = runs_of(db, schedule.id)
    assert (run["fire_time"], run["manual"], run["error"]) == (due, False, None)
    assert (run["params"], run["priority"], run["status"]) == ({"days_to_keep": 7}, 6, "pending")
    assert run["request_id"] is None  # no request asked for it
    events = db.fetch_all("SELECT status FROM offload.task_events WHERE task_id = %s",
                          [run["task_id"]])  # fmt: skip
    assert [e["status"] for e in events] == ["pending"]
    assert db.fetch_one("SELECT 1 AS ok FROM offload.outbox WHERE task_id = %s", [run["task_id"]])
    assert str(run["task_id"]) in message_ids(redis_client, "analytics")
    after = store.get(tenant, schedule.id)
    assert after.next_run_at == due + timedelta(seconds=60)  # anchored on the fire time
    assert (after.last_task_id, after.last_task_status) == (run["task_id"], "pending")

    fire_due(db, publisher, grace=GRACE, clock=fixed(now + timedelta(seconds=30)))
    assert len(runs_of(db, schedule.id)) == 1  # not due again yet


def test_a_fired_task_waits_in_the_outbox_while_redis_is_away(db, store, tenant):
    """The task is committed with its outbox row: a publish that fails leaves it to the relay."""
    away = Publisher(make_broker("redis://127.0.0.1:1/0"))
    try:
        schedule = make(store, tenant)
        now = datetime.now(UTC)
        set_next_run(db, schedule.id, now - timedelta(seconds=1))
        fire_due(db, away, grace=GRACE, clock=fixed(now))
    finally:
        away.close()
    [run] = runs_of(db, schedule.id)
    assert db.fetch_one("SELECT 1 AS ok FROM offload.outbox WHERE task_id = %s", [run["task_id"]])


def test_two_concurrent_firing_passes_fire_a_due_schedule_once_per_fire_time(
    db, store, tenant, publisher
):
    schedule = make(store, tenant, every_seconds=1)
    now = datetime.now(UTC).replace(microsecond=0)
    errors: list[BaseException] = []
    for round_ in range(10):
        at = now + timedelta(seconds=round_)
        set_next_run(db, schedule.id, at - timedelta(seconds=2))  # three fire times due
        start = threading.Barrier(2)

        def pass_(at: datetime = at, start: threading.Barrier = start) -> None:
            try:
                start.wait()
                fire_due(db, publisher, grace=GRACE, clock=fixed(at))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=pass_) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not errors
    runs = runs_of(db, schedule.id)
    fire_times = [r["fire_time"] for r in runs]
    assert fire_times == [now + timedelta(seconds=n) for n in range(-2, 10)]
    tasks = db.fetch_one("SELECT count(*) AS n FROM offload.tasks WHERE tenant = %s", [tenant])
    assert tasks["n"] == len(runs) == len({r["task_id"] for r in runs})


def lock_waiters(db) -> int:
    row = db.fetch_one(
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return int(row["n"])


def test_the_fire_time_record_stops_a_second_firing_even_without_the_row_lock(db, store, tenant):
    """Two schedulers that both think they lead (a lock lost mid-pass) and both fire the same
    time: the second waits on the first's (schedule, fire time) row and enqueues nothing."""
    schedule = make(store, tenant)
    t = datetime.now(UTC).replace(microsecond=0)
    second: list[object] = []

    def other_scheduler() -> None:
        with db.transaction() as conn:
            second.append(fire(conn, schedule, t, fired_at=t))

    with db.transaction() as conn:
        first = fire(conn, schedule, t, fired_at=t)
        thread = threading.Thread(target=other_scheduler)
        thread.start()
        wait_for(lambda: lock_waiters(db) >= 1, timeout=10)
    thread.join(10)
    assert first is not None
    assert first.task is not None
    assert second == [None]
    [run] = runs_of(db, schedule.id)
    assert run["task_id"] == first.task.id
    tasks = db.fetch_one("SELECT count(*) AS n FROM offload.tasks WHERE tenant = %s", [tenant])
    assert tasks["n"] == 1


@pytest.mark.parametrize("timing", [{"every_seconds": 300}, {"cron": "*/5 * * * *"}])
def test_after_an_hour_of_downtime_skip_fires_nothing_and_run_once_fires_once(
    db, store, tenant, publisher, timing
):
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    last_due = now.replace(minute=now.minute - now.minute % 5, second=0)  # a 5-minute mark
    skip = make(store, tenant, misfire="skip", **timing)
    once = make(store, tenant, misfire="run_once", **timing)
    for schedule in (skip, once):  # due since an hour before the last mark
        set_next_run(db, schedule.id, last_due - timedelta(hours=1))
    fire_due(db, publisher, grace=timedelta(seconds=10), clock=fixed(now))
    assert runs_of(db, skip.id) == []
    [run] = runs_of(db, once.id)
    assert run["fire_time"] == last_due  # the latest missed time
    assert run["task_id"] is not None
    for schedule in (skip, once):
        assert store.get(tenant, schedule.id).next_run_at == last_due + timedelta(minutes=5)


def test_runs_whose_params_no_longer_validate_are_recorded_without_a_task_and_others_fire(
    db, store, tenant, publisher, caplog
):
    bad_params = make(store, tenant)
    gone_task = make(store, tenant)
    good = make(store, tenant)
    with db.connection() as conn:  # as if the catalog had changed since they were made
        conn.execute(
            "UPDATE offload.schedules SET params = %s WHERE id = %s",
            [Json({"days_to_keep": "secret-value", "unknown": 1}), bad_params.id],
        )
        conn.execute("UPDATE offload.schedules SET task_name = 'gone.task' WHERE id = %s",
                     [gone_task.id])  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    for schedule in (bad_params, gone_task, good):
        set_next_run(db, schedule.id, now)
    fire_due(db, publisher, grace=GRACE, clock=fixed(now))
    [bad_run] = runs_of(db, bad_params.id)
    assert bad_run["task_id"] is None
    assert bad_run["error"] == "params no longer valid for the task: days_to_keep, unknown"
    [gone_run] = runs_of(db, gone_task.id)
    assert gone_run["error"] == "task 'gone.task' is not in the catalog"
    [good_run] = runs_of(db, good.id)
    assert good_run["task_id"] is not None
    assert "secret-value" not in caplog.text
    failed = store.get(tenant, bad_params.id)
    assert failed.last_run_error == bad_run["error"]
    assert failed.next_run_at == now + timedelta(seconds=60)  # it goes on firing (and failing)


def test_a_schedule_whose_rule_cannot_be_read_is_skipped_and_the_pass_goes_on(
    db, store, tenant, publisher
):
    broken = make(store, tenant)
    good = make(store, tenant)
    with db.connection() as conn:  # a zone the system's tz database no longer has
        conn.execute("UPDATE offload.schedules SET timezone = 'Gone/Away' WHERE id = %s",
                     [broken.id])  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    set_next_run(db, broken.id, now)
    set_next_run(db, good.id, now)
    fire_due(db, publisher, grace=GRACE, clock=fixed(now))
    assert runs_of(db, broken.id) == []
    assert len(runs_of(db, good.id)) == 1
    assert store.get(tenant, broken.id).next_run_at == now  # still due: tried again next turn


def test_a_run_goes_with_its_task_and_runs_that_enqueued_nothing_are_kept_30_days(
    db, store, tenant, publisher
):
    schedule = make(store, tenant)
    now = datetime.now(UTC).replace(microsecond=0)
    set_next_run(db, schedule.id, now)
    fire_due(db, publisher, grace=GRACE, clock=fixed(now))
    [run] = runs_of(db, schedule.id)
    with db.connection() as conn:  # what cleanup.old_records does to an old finished task
        conn.execute("DELETE FROM offload.tasks WHERE id = %s", [run["task_id"]])
        for days in (31, 29):
            conn.execute(
                "INSERT INTO offload.schedule_runs (schedule_id, fire_time, fired_at, error) "
                "VALUES (%s, now() - make_interval(days => %s), "
                "now() - make_interval(days => %s), 'params no longer valid')",
                [schedule.id, days, days],
            )
    housekeeping(db, idempotency_ttl_hours=48)
    [left] = runs_of(db, schedule.id)  # the task's run went with it; the 31-day-old one too
    assert left["error"] is not None
    assert left["fired_at"] > datetime.now(UTC) - timedelta(days=30)
