"""The statements that move tasks by id find them by primary key alone, even on a table
Postgres has no statistics for (new, truncated, or filled faster than autovacuum analyzes it).

With `status = '...'` they once also read a whole partial index on that status: a claim
walked every pending task (tasks_pending_walk, whose second column is the id), an outcome
every entry of tasks_running_worker, and a drain slowed as its backlog grew. The tables here
are temporary copies of offload.tasks and offload.task_events, with the same indexes and
4,000 tasks in each status: autovacuum never analyzes a temporary table, so the planner sees
what it sees of a fresh one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import pq
from psycopg.rows import dict_row
from psycopg.sql import SQL, Literal
from psycopg.types.json import Jsonb

from offload_shared import transitions as tr
from offload_shared.db import Connection
from offload_shared.sql import query

EACH = 4_000  # tasks in each status
BY_ID = [t for t in tr.ALL if "id" in t.inputs and t is not tr.CREATE]


@pytest.fixture
def conn(infra) -> Iterator[Connection]:
    """A session of its own: its temporary tables and prepared statements end with it."""
    with psycopg.connect(infra.database_url, autocommit=True, row_factory=dict_row) as conn:
        for table in ("tasks", "task_events"):
            conn.execute(f"CREATE TEMP TABLE {table} (LIKE offload.{table} INCLUDING ALL)")
        for status in ("pending", "running", "completed", "failed", "cancelled"):
            conn.execute(
                "INSERT INTO pg_temp.tasks (id, tenant, task_name, task_type, queue, priority,"
                " max_retries, time_limit_ms, params, status, attempts, worker_id, completed_at)"
                " SELECT gen_random_uuid(), 'plans', 'noop', 'noop', 'default', 5, 3, 1000, '{}',"
                " %(status)s, 1, CASE WHEN %(status)s = 'running' THEN gen_random_uuid() END,"
                " CASE WHEN %(status)s NOT IN ('pending', 'running') THEN now() END"
                " FROM generate_series(1, %(n)s)",
                {"status": status, "n": EACH},
            )
        yield conn


def _on_temp_tables(sql: str) -> str:
    return re.sub(r"\boffload\.(tasks|task_events)\b", r"pg_temp.\1", sql)


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child)


def _indexes_used(conn: Connection, sql: str, params: dict[str, Any], generic: bool) -> set[str]:
    """The indexes the plan of `sql` reads (only pg_temp.tasks is scanned), as a custom plan
    (the parameters known) or as the generic plan the workers' connections use."""
    if generic:  # every statement here takes `rows` (jsonb) and `ids` (uuid[])
        assert set(re.findall(r"%\((\w+)\)s", sql)) == {"rows", "ids"}
        numbered = sql.replace("%(rows)s", "$1").replace("%(ids)s", "$2")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        # The simple query protocol: the extended one would take $1 as the PREPARE's own.
        prepared = conn.pgconn.exec_(f"PREPARE probe (jsonb, uuid[]) AS {numbered}".encode())
        assert prepared.status == pq.ExecStatus.COMMAND_OK, prepared.error_message
        # Its arguments as literals: a utility statement's parameters get no types.
        explain = SQL("EXPLAIN (FORMAT JSON) EXECUTE probe({}::jsonb, {}::uuid[])")
        args = Literal(params["rows"]), Literal(params["ids"])
        row = conn.execute(explain.format(*args)).fetchone()
        conn.execute("DEALLOCATE probe")
        conn.execute("RESET plan_cache_mode")
    else:
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    assert row is not None
    [top] = row["QUERY PLAN"]
    return {node["Index Name"] for node in _scans(top["Plan"]) if "Index Name" in node}


def _primary_key(conn: Connection) -> str:
    row = conn.execute(
        "SELECT i.indexrelid::regclass::text AS name FROM pg_index i"
        " WHERE i.indrelid = 'pg_temp.tasks'::regclass AND i.indisprimary"
    ).fetchone()
    assert row is not None
    return str(row["name"]).split(".")[-1]


def _ids(conn: Connection, statuses: tuple[str, ...], n: int) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT id FROM pg_temp.tasks WHERE status = ANY(%s) ORDER BY random() LIMIT %s",
        (list(statuses), n),
    )
    return [r["id"] for r in rows]


@pytest.mark.parametrize("generic", [True, False], ids=["generic plan", "custom plan"])
@pytest.mark.parametrize("transition", BY_ID, ids=lambda t: t.name)
def test_a_transition_finds_its_tasks_by_primary_key(conn, transition, generic):
    ids = _ids(conn, tuple(transition.sources), 8)
    rows = [{"id": str(i), "worker_id": str(uuid.uuid4()), "attempt": 1, "tenant": "plans",
             "result": None, "error": "e", "delay_seconds": 1.0} for i in ids]  # fmt: skip
    used = _indexes_used(conn, _on_temp_tables(transition.sql), transition.params(rows), generic)
    assert used == {_primary_key(conn)}


@pytest.mark.parametrize("generic", [True, False], ids=["generic plan", "custom plan"])
def test_noting_why_tasks_wait_finds_them_by_primary_key(conn, generic):
    ids = [str(i) for i in _ids(conn, ("pending",), 8)]
    params = {"rows": Jsonb([{"id": i, "reason": "limit"} for i in ids]), "ids": ids}
    used = _indexes_used(conn, _on_temp_tables(query("note_waiting")), params, generic)
    assert used == {_primary_key(conn)}


@pytest.mark.parametrize("name", ["set_progress", "begin_late"])
def test_a_running_tasks_update_finds_it_by_primary_key(conn, name):
    running = conn.execute(
        "SELECT id, attempts AS attempt, worker_id FROM pg_temp.tasks WHERE status = 'running'"
        " LIMIT 1"
    ).fetchone()
    params = {**running, "progress": 50}
    used = _indexes_used(conn, _on_temp_tables(query(name)), params, generic=False)
    assert used == {_primary_key(conn)}
