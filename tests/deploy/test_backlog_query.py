"""The query KEDA polls to scale each worker counts that worker's backlog, on the real schema:
ready, delayed or retry-waiting tasks due within 30 s, and running ones; nothing finished,
nothing due later, nothing a task limit holds back, nothing of another queue. The metrics'
offload_queue_backlog gives the same count.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import yaml

from offload_shared.sql import query
from tests.deploy.conftest import DEPLOY

BACKLOG = query("queue_backlog", filename="operations.sql")

INSERT = """
INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, priority, status,
                           max_retries, time_limit_ms, created_at, next_attempt_at, waiting)
VALUES (%(id)s, 'backlog-test', 'x.y', 'x', %(queue)s, 5, %(status)s, 3, 1000,
        now() - interval '1 minute', %(next)s, %(waiting)s)
"""


@pytest.fixture(scope="module")
def queries(tool) -> dict[str, str]:
    """queue -> the query of the ScaledObject that scales its worker (prod overlay)."""
    built = subprocess.run(
        [tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / "prod")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    found = {}
    for obj in yaml.safe_load_all(built):
        if obj and obj["kind"] == "ScaledObject":
            (trigger,) = obj["spec"]["triggers"]
            queue = trigger["name"].removesuffix("-backlog")
            found[queue] = trigger["metadata"]["query"]
    assert set(found) == {"email", "reports", "analytics"}
    return found


@pytest.mark.parametrize("queue", ["email", "reports", "analytics"])
def test_the_backlog_query_counts_ready_delayed_soon_and_running_tasks(db, queries, queue):
    now = datetime.now(UTC)
    other = "email" if queue != "email" else "reports"
    counted = [
        ("pending", None),  # ready
        ("pending", now + timedelta(seconds=10)),  # delayed, due within the window
        ("pending", now - timedelta(seconds=5)),  # a retry now due
        ("running", None),
    ]
    not_counted = [
        ("pending", now + timedelta(hours=1)),  # delayed well beyond the window
        ("completed", None),
        ("failed", None),
        ("cancelled", None),
    ]
    held = ["rate_limit", "concurrency_limit"]  # held back by a task limit: no use scaling up
    with db.connection() as conn, conn.transaction():  # rolled back: nothing is left behind
        (before,) = conn.execute(queries[queue]).fetchone().values()
        rows = [(s, n, None) for s, n in counted + not_counted] + [
            ("pending", None, w) for w in held
        ]
        for status, next_at, waiting in rows:
            conn.execute(
                INSERT,
                {"id": uuid.uuid4(), "queue": queue, "status": status, "next": next_at,
                 "waiting": waiting},
            )  # fmt: skip
        conn.execute(
            INSERT,
            {
                "id": uuid.uuid4(),
                "queue": other,
                "status": "pending",
                "next": None,
                "waiting": None,
            },
        )
        (after,) = conn.execute(queries[queue]).fetchone().values()
        assert after - before == len(counted)
        # The metrics' offload_queue_backlog is the same figure (operations.sql).
        [metric] = [r for r in conn.execute(BACKLOG, {"tenant": None}) if r["queue"] == queue]
        assert metric["backlog"] == after
        raise psycopg.Rollback  # ends the transaction quietly
