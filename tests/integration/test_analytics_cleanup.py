"""cleanup.old_records against real Postgres: exactly the right rows go, in bounded batches."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from offload_analytics_worker import cleanup, jobs
from offload_shared import snapshots
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.store import TaskStore
from tests.seeding import running_job, seed

DAYS = 30


def finished(db, tenant, status, completed_at):
    return seed(
        db,
        tenant,
        status=status,
        created_at=completed_at - timedelta(minutes=5),
        started_at=completed_at - timedelta(minutes=1),
        completed_at=completed_at,
        error="ValueError: x" if status == "failed" else None,
    )


def artifact(db, tenant, task_id, expires_at):
    saved = PostgresArtifacts(db, ttl=timedelta(days=1)).save(
        TaskStore(db).get(tenant, task_id),
        filename="r.xlsx",
        content_type="application/octet-stream",
        content=b"bytes",
    )
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.artifacts SET expires_at = %s WHERE id = %s", (expires_at, saved.id)
        )
    return saved.id


def snapshot(db, tenant, kind, created_at):
    snapshots.save(db, tenant, kind, None, {"kind": kind})
    row = db.fetch_one(
        "UPDATE offload.analytics_snapshots SET created_at = %(at)s WHERE id = "
        "(SELECT max(id) FROM offload.analytics_snapshots WHERE tenant = %(tenant)s) RETURNING id",
        {"at": created_at, "tenant": tenant},
    )
    return row["id"]


def ids(db, sql, tenant):
    return {r["id"] for r in db.fetch_all(sql, {"tenant": tenant})}


def task_ids(db, tenant):
    return ids(db, "SELECT id FROM offload.tasks WHERE tenant = %(tenant)s", tenant)


def artifact_ids(db, tenant):
    return ids(db, "SELECT id FROM offload.artifacts WHERE tenant = %(tenant)s", tenant)


def snapshot_ids(db, tenant):
    return ids(db, "SELECT id FROM offload.analytics_snapshots WHERE tenant = %(tenant)s", tenant)


def seed_tenant(db, tenant, now):
    """Old and recent rows of every kind; returns the ids cleanup must delete."""
    old = now - timedelta(days=DAYS + 10)
    cutoff = now - timedelta(days=DAYS)
    doomed_tasks = {
        finished(db, tenant, "completed", old),
        finished(db, tenant, "completed", old - timedelta(days=300)),
        finished(db, tenant, "failed", old),
        finished(db, tenant, "cancelled", old),
        finished(db, tenant, "completed", cutoff - timedelta(seconds=1)),
    }
    with_artifact = finished(db, tenant, "completed", old)
    doomed_tasks.add(with_artifact)
    cascaded = artifact(db, tenant, with_artifact, expires_at=now + timedelta(days=3))
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO offload.email_deliveries (task_id, message_id, accepted) "
            "VALUES (%s, 'm', '[]')",
            (with_artifact,),
        )

    recent = finished(db, tenant, "completed", cutoff + timedelta(seconds=1))
    expired = artifact(db, tenant, recent, expires_at=now - timedelta(hours=1))
    live = artifact(db, tenant, recent, expires_at=now + timedelta(hours=1))
    seed(db, tenant, status="pending", created_at=old)
    seed(db, tenant, status="running", created_at=old, started_at=old)

    doomed_snapshots = {
        snapshot(db, tenant, "dashboard", old),
        snapshot(db, tenant, "dashboard", old),
    }
    snapshot(db, tenant, "dashboard", old)  # the latest dashboard: kept, however old
    snapshot(db, tenant, "task_trends", old)  # the only one of its kind: kept
    snapshot(db, tenant, "failure_breakdown", now - timedelta(days=1))
    return {
        "tasks": doomed_tasks,
        "artifacts": {cascaded, expired},
        "snapshots": doomed_snapshots,
        "kept_artifacts": {live},
    }


def test_cleanup_deletes_exactly_the_old_rows_of_its_tenant_in_batches(db, tenant):
    now = datetime.now(UTC)
    doomed = seed_tenant(db, tenant, now)
    other = f"other-{tenant}"
    seed_tenant(db, other, now)
    job = running_job(db, tenant, "cleanup.old_records", {"days_to_keep": DAYS})
    before = {
        "tasks": task_ids(db, tenant),
        "artifacts": artifact_ids(db, tenant),
        "snapshots": snapshot_ids(db, tenant),
    }
    untouched = (task_ids(db, other), artifact_ids(db, other), snapshot_ids(db, other))
    seen = []

    def progress(percent):
        seen.append((percent, len(task_ids(db, tenant)), len(snapshot_ids(db, tenant))))

    result = cleanup.cleanup_old_records(
        db, tenant, job.id, days_to_keep=DAYS, now=now, batch_size=2, progress=progress
    )

    assert {k: result[k] for k in ("tasks", "artifacts", "snapshots")} == {
        "tasks": 6,
        "artifacts": 2,
        "snapshots": 2,
    }
    assert task_ids(db, tenant) == before["tasks"] - doomed["tasks"]
    assert job.id in task_ids(db, tenant)
    assert artifact_ids(db, tenant) == before["artifacts"] - doomed["artifacts"]
    assert doomed["kept_artifacts"] <= artifact_ids(db, tenant)
    assert snapshot_ids(db, tenant) == before["snapshots"] - doomed["snapshots"]
    assert (task_ids(db, other), artifact_ids(db, other), snapshot_ids(db, other)) == untouched
    # Their history, chunks and deliveries went with them.
    leftovers = db.fetch_one(
        "SELECT (SELECT count(*) FROM offload.task_events WHERE task_id = ANY(%(t)s)) AS events,"
        " (SELECT count(*) FROM offload.artifact_chunks WHERE artifact_id = ANY(%(a)s)) AS chunks,"
        " (SELECT count(*) FROM offload.email_deliveries WHERE task_id = ANY(%(t)s)) AS sent",
        {"t": list(doomed["tasks"]), "a": list(doomed["artifacts"])},
    )
    assert leftovers == {"events": 0, "chunks": 0, "sent": 0}
    # Batches of at most 2 rows, progress reported between them and never going back.
    tasks_left = [len(before["tasks"])] + [s[1] for s in seen]
    assert all(0 <= a - b <= 2 for a, b in itertools.pairwise(tasks_left))
    assert len(seen) >= 3 + 1 + 1  # 6 tasks, 1 expired artifact, 2 snapshots, 2 at a time
    percents = [s[0] for s in seen]
    assert percents == sorted(percents)
    assert 0 < percents[-1] <= 99


def test_a_second_cleanup_finds_nothing_left(db, tenant):
    now = datetime.now(UTC)
    seed_tenant(db, tenant, now)
    job = running_job(db, tenant, "cleanup.old_records", {"days_to_keep": DAYS})
    cleanup.cleanup_old_records(db, tenant, job.id, days_to_keep=DAYS, now=now)
    again = cleanup.cleanup_old_records(db, tenant, job.id, days_to_keep=DAYS, now=now)
    assert {k: again[k] for k in ("tasks", "artifacts", "snapshots")} == {
        "tasks": 0,
        "artifacts": 0,
        "snapshots": 0,
    }


def test_the_job_keeps_90_days_by_default(db, tenant):
    now = datetime.now(UTC)
    kept = finished(db, tenant, "completed", now - timedelta(days=89))
    gone = finished(db, tenant, "failed", now - timedelta(days=91))
    job = running_job(db, tenant, "cleanup.old_records", {})
    result = jobs.cleanup_old_records(db, job)
    assert (result["tasks"], result["days_to_keep"]) == (1, 90)
    assert kept in task_ids(db, tenant)
    assert gone not in task_ids(db, tenant)
