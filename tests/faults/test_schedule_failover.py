"""Two scheduler replicas firing an every-second schedule while the leader is SIGKILLed again
and again: every second fires exactly once, none lost, none doubled, each task published."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime

import pytest

from offload_shared.catalog import get_spec
from offload_shared.schedules import ScheduleFields, ScheduleStore
from tests.conftest import wait_for
from tests.faults.harness import log_says
from tests.queues import message_ids

KILLS = 5
TICKS_BETWEEN = 5  # seconds fired by each new leader before it is killed in turn
TASK = "analytics.update_dashboard"  # queue "analytics"; no worker runs in this test


def fired(db, schedule_id) -> list[dict]:
    return db.fetch_all(
        "SELECT fire_time, fired_at, task_id FROM offload.schedule_runs WHERE schedule_id = %s "
        "ORDER BY fire_time",
        [schedule_id],
    )


@pytest.mark.timeout(120)
def test_every_second_fires_once_while_the_leader_is_killed_repeatedly(
    system, db, redis_client, tenant, figure
):
    store = ScheduleStore(db)
    replicas = [system.scheduler(), system.scheduler()]
    schedule = store.create(
        tenant,
        ScheduleFields(name="every second", task_name=TASK,
                       params=get_spec(TASK).load_params({}), every_seconds=1),
        datetime.now(UTC),
    )  # fmt: skip
    takeovers: list[float] = []
    try:
        check_every_second_fired_once(system, db, redis_client, tenant, figure, store, schedule,
                                      replicas, takeovers)  # fmt: skip
    finally:
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.schedules WHERE id = %s", [schedule.id])


def check_every_second_fired_once(
    system, db, redis_client, tenant, figure, store, schedule, replicas, takeovers
):
    rng = random.Random()  # the kill moments are whatever the clock makes them
    try:

        def leader():
            """The live replica that took the lock (a restarted one has not, yet)."""
            leaders = [r for r in replicas if r.poll() is None and log_says(r, "now the leader")]
            return leaders[0] if len(leaders) == 1 else None

        current = wait_for(leader, timeout=20)
        for _ in range(KILLS):
            seen = len(fired(db, schedule.id))
            wait_for(lambda seen=seen: len(fired(db, schedule.id)) >= seen + TICKS_BETWEEN,
                     timeout=20, interval=0.1)  # fmt: skip
            time.sleep(rng.uniform(0, 1))  # anywhere in the second: mid-pass or between passes
            system.kill(current)
            killed = time.monotonic()
            replicas.remove(current)
            current = wait_for(leader, timeout=20, interval=0.05)  # the follower takes over
            takeovers.append(time.monotonic() - killed)
            replicas.append(system.scheduler(ready=False))  # restarted, as Kubernetes would
        seen = len(fired(db, schedule.id))
        wait_for(lambda: len(fired(db, schedule.id)) >= seen + TICKS_BETWEEN, timeout=20)
    finally:
        store.set_enabled(tenant, schedule.id, False, datetime.now(UTC))  # waits for a firing

    runs = fired(db, schedule.id)
    times = [r["fire_time"] for r in runs]
    span = int((times[-1] - times[0]).total_seconds()) + 1
    assert len(times) == span, "a second fired twice or not at all"
    assert all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(times))
    task_ids = {r["task_id"] for r in runs}
    assert None not in task_ids
    assert len(task_ids) == len(runs)
    tasks = db.fetch_one("SELECT count(*) AS n FROM offload.tasks WHERE tenant = %s", [tenant])
    assert tasks["n"] == len(runs), "a task without its run, or a run without its task"

    def published() -> bool:  # by the firing leader at once, or by the relay after a kill
        left = db.fetch_one(
            "SELECT count(*) AS n FROM offload.outbox WHERE task_id = ANY(%s)", [list(task_ids)]
        )
        return left["n"] == 0

    late = max((r["fired_at"] - r["fire_time"]).total_seconds() for r in runs)
    wait_for(published, timeout=20, interval=0.1)
    assert {str(i) for i in task_ids} <= message_ids(redis_client, "analytics")
    figure(
        f"Schedules, 2 scheduler replicas, an every-second schedule, the leader SIGKILLed "
        f"{KILLS} times: {len(runs)} consecutive seconds fired, each once, {len(runs)} tasks "
        f"all published; takeovers {min(takeovers):.1f}-{max(takeovers):.1f} s, the seconds "
        f"missed meanwhile fired by the new leader (the latest {late:.1f} s late)"
    )
