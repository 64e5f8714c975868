"""Excel reports against real Postgres: task history, registered sources, size, cancellation."""

import datetime as dt
import io
import uuid
from datetime import timedelta

import dramatiq
import openpyxl
import pandas as pd
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker
from psycopg import sql

from offload_report_worker import actors, jobs
from offload_report_worker.excel import SHEET, SUMMARY_SHEET
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.catalog import get_spec
from offload_shared.context import TaskContext
from offload_shared.enqueue import new_task, submit
from offload_shared.errors import PermanentTaskError, StoreUnavailable
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor, worker_middleware
from tests.conftest import create_task, wait_for
from tests.workers import drain

EXCEL = get_spec("reports.generate_excel")
FINISHED = ("completed", "failed", "cancelled")


# -- helpers -----------------------------------------------------------------------------------


def running_task(db, tenant, raw_params):
    """A claimed task, as the worker gets it."""
    return TaskStore(db).claim(create_task(db, tenant, EXCEL.name, raw_params).id)


def run_report(db, infra, task, *, progress=None, **settings):
    context = TaskContext(
        task=task,
        db=db,
        settings=infra.settings(**settings),
        artifacts=PostgresArtifacts(db, ttl=timedelta(days=1)),
        checkpoint=progress or (lambda _: None),
    )
    return jobs.excel_report(context)


def stored_file(db, tenant, task_id):
    store = PostgresArtifacts(db, ttl=timedelta(days=1))
    artifact = store.find(tenant, task_id)
    return None if artifact is None else (artifact, b"".join(store.read(artifact)))


def workbook_of(db, tenant, task_id):
    artifact, content = stored_file(db, tenant, task_id)
    return openpyxl.load_workbook(io.BytesIO(content)), artifact, content


def rows_of(sheet):
    return [list(r) for r in sheet.iter_rows(values_only=True)]


# -- task history ------------------------------------------------------------------------------


def seed_task(db, tenant, created_at, *, status="completed", name="email.send_notification"):
    with db.connection() as conn:
        row = conn.execute(
            """INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, priority,
                   status, max_retries, time_limit_ms, created_at, started_at, completed_at,
                   attempts, error_message)
               VALUES (%(id)s, %(tenant)s, %(name)s, split_part(%(name)s, '.', 1), 'email', 3,
                   %(status)s, 3, 60000, %(at)s, %(at)s + interval '1 second',
                   %(at)s + interval '3.5 seconds', 1, %(error)s)
               RETURNING id""",
            {
                "id": uuid.uuid4(),
                "tenant": tenant,
                "name": name,
                "status": status,
                "at": created_at,
                "error": "=boom" if status == "failed" else None,
            },
        ).fetchone()
    return str(row["id"])


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_task_history_holds_only_the_tenant_s_rows_within_the_inclusive_days(db, infra, tenant):
    other = f"{tenant}-other"
    before = seed_task(db, tenant, utc(2026, 2, 28, 23, 59, 59))
    first = seed_task(db, tenant, utc(2026, 3, 1, 0, 0, 0))
    failed = seed_task(db, tenant, utc(2026, 3, 1, 12, 0), status="failed")
    last = seed_task(db, tenant, utc(2026, 3, 2, 23, 59, 59))
    after = seed_task(db, tenant, utc(2026, 3, 3, 0, 0, 0))
    foreign = seed_task(db, other, utc(2026, 3, 1, 12, 0))
    task = running_task(
        db,
        tenant,
        {
            "report_name": "march",
            "task_history": {"created_from": "2026-03-01", "created_to": "2026-03-02"},
        },
    )

    result = run_report(db, infra, task)

    workbook, artifact, content = workbook_of(db, tenant, task.id)
    data = rows_of(workbook[SHEET])
    assert data[0] == [
        "task_id", "task_name", "task_type", "status", "priority", "attempts", "retry_count",
        "created_at", "started_at", "completed_at", "duration_seconds", "error_message",
    ]  # fmt: skip
    assert [r[0] for r in data[1:]] == [last, failed, first]  # newest first
    assert not {before, after, foreign} & {r[0] for r in data[1:]}
    assert data[2][1:] == [
        "email.send_notification", "email", "failed", 3, 1, 0,
        dt.datetime(2026, 3, 1, 12, 0), dt.datetime(2026, 3, 1, 12, 0, 1),
        dt.datetime(2026, 3, 1, 12, 0, 3, 500000), 2.5, "'=boom",
    ]  # fmt: skip
    summary = {r[0]: r[1] for r in rows_of(workbook[SUMMARY_SHEET]) if r[0]}
    assert summary["Rows"] == 3
    assert (summary["created_from"], summary["created_to"]) == ("2026-03-01", "2026-03-02")
    assert result["rows"] == 3
    assert (result["size_bytes"], result["sha256"]) == (len(content), artifact.sha256)
    assert result["download"] == f"/api/tasks/{task.id}/artifact"


def test_task_history_filters_by_status_and_name(db, infra, tenant):
    seed_task(db, tenant, utc(2026, 3, 1), status="completed")
    wanted = seed_task(db, tenant, utc(2026, 3, 2), status="failed")
    seed_task(db, tenant, utc(2026, 3, 3), status="failed", name="analytics.sync_metrics")
    task = running_task(
        db,
        tenant,
        {
            "report_name": "failures",
            "task_history": {"status": "failed", "task_name": "email.send_notification"},
        },
    )
    run_report(db, infra, task)
    workbook, _, _ = workbook_of(db, tenant, task.id)
    assert [r[0] for r in rows_of(workbook[SHEET])[1:]] == [wanted]


# -- registered sources ------------------------------------------------------------------------


@pytest.fixture
def schema(infra):
    """A schema of the test's own in the test database, with an orders table."""
    name = f"rpt_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.orders (tenant text, id int, label text, amount numeric,"
                " placed date, at timestamptz)"
            ).format(ident)
        )
        conn.execute(sql.SQL("CREATE TABLE {}.audit (note text)").format(ident))
        conn.execute(sql.SQL("CREATE SEQUENCE {}.seq").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {s}.touch() RETURNS int LANGUAGE sql"
                " AS $$ INSERT INTO {s}.audit VALUES ('written') RETURNING 1 $$"
            ).format(s=ident)
        )
    yield name
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def register(monkeypatch, tmp_path, **sources):
    """Write the TOML file OFFLOAD_REPORT_SOURCES names: {name: (sql, params)}."""
    lines = []
    for name, (query, params) in sources.items():
        lines.append(f"[{name}]\nsql = '''{query}'''")
        lines.append("params = {" + ", ".join(f'{k} = "{v}"' for k, v in params.items()) + "}")
    path = tmp_path / f"sources-{uuid.uuid4().hex}.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("OFFLOAD_REPORT_SOURCES", str(path))


def in_schema(schema, text):
    """SQL text with {s} replaced by the schema's quoted name (placeholders left alone)."""
    return sql.SQL(text).format(s=sql.Identifier(schema)).as_string()


def scalar(infra, schema, text):
    with psycopg.connect(infra.database_url) as conn:
        return conn.execute(sql.SQL(text).format(s=sql.Identifier(schema))).fetchone()[0]


NASTY = "O'Brien'); DELETE FROM orders; --"


def test_a_registered_source_binds_its_params_and_the_tenant(
    db, infra, tenant, schema, monkeypatch, tmp_path
):
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        conn.cursor().executemany(
            sql.SQL("INSERT INTO {}.orders VALUES (%s, %s, %s, %s, %s, %s)").format(
                sql.Identifier(schema)
            ),
            [
                (tenant, 1, "plain", "10.50", dt.date(2026, 3, 1), utc(2026, 3, 1, 8)),
                (tenant, 2, NASTY, "1", dt.date(2026, 3, 2), utc(2026, 3, 2, 8)),
                (tenant, 3, '=HYPERLINK("x")', "-2", dt.date(2026, 3, 3), None),
                (tenant, 4, "too early", "1", dt.date(2026, 2, 1), None),
                (f"{tenant}-other", 5, "someone else's", "99", dt.date(2026, 3, 1), None),
            ],
        )
    register(
        monkeypatch,
        tmp_path,
        orders=(
            in_schema(
                schema,
                "SELECT id, label, amount, placed, at FROM {s}.orders"
                " WHERE tenant = %(tenant)s AND label <> %(skip)s AND placed >= %(since)s"
                " ORDER BY id",
            ),
            {"skip": "string", "since": "date"},
        ),
    )
    task = running_task(
        db,
        tenant,
        {
            "report_name": "orders",
            "source": "orders",
            "source_params": {"skip": NASTY, "since": "2026-03-01"},
        },
    )

    result = run_report(db, infra, task)

    workbook, _, _ = workbook_of(db, tenant, task.id)
    assert rows_of(workbook[SHEET]) == [
        ["id", "label", "amount", "placed", "at"],
        [1, "plain", 10.5, dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 1, 8)],
        [3, '\'=HYPERLINK("x")', -2, dt.datetime(2026, 3, 3), None],
    ]  # the NASTY row was matched as a value; the other tenant's row never read
    assert result["rows"] == 2
    assert scalar(infra, schema, "SELECT count(*) FROM {s}.orders") == 5
    summary = {r[0]: r[1] for r in rows_of(workbook[SUMMARY_SHEET]) if r[0]}
    assert summary["Source"] == "registered source 'orders'"
    assert (summary["skip"], summary["since"]) == (NASTY, "2026-03-01")


@pytest.mark.parametrize(
    "writing_sql",
    [
        "SELECT {s}.touch() AS written",  # a function that INSERTs
        "SELECT nextval('{s}.seq') AS n",
        "WITH w AS (INSERT INTO {s}.audit VALUES ('x') RETURNING 1) SELECT * FROM w",
        "INSERT INTO {s}.audit VALUES ('x') RETURNING note",
    ],
)
def test_a_source_that_tries_to_write_fails_the_task_at_once_and_stores_nothing(
    db, infra, tenant, schema, monkeypatch, tmp_path, writing_sql
):
    register(monkeypatch, tmp_path, writer=(in_schema(schema, writing_sql), {}))
    settings = infra.settings(OFFLOAD_RETRY_BACKOFF_SECONDS="0.05")
    broker = StubBroker(middleware=worker_middleware(settings))
    broker.emit_after("process_boot")
    task_actor("reports.generate_excel", broker=broker)(actors.generate_excel)
    params = EXCEL.load_params({"report_name": "w", "source": "writer"})
    task = submit(TaskStore(db), Publisher(broker), new_task(EXCEL, tenant, params))
    drain(broker, "reports")

    done = TaskStore(db).get(tenant, task.id)
    assert (done.status, done.attempts, done.max_retries) == ("failed", 1, 3)
    assert done.error_message.startswith("PermanentTaskError: report source 'writer' failed")
    assert stored_file(db, tenant, task.id) is None
    assert scalar(infra, schema, "SELECT count(*) FROM {s}.audit") == 0
    assert scalar(infra, schema, "SELECT last_value FROM {s}.seq") == 1  # never advanced


def test_a_read_only_violation_is_reported_as_such(
    db, infra, tenant, schema, monkeypatch, tmp_path
):
    register(monkeypatch, tmp_path, writer=(in_schema(schema, "SELECT {s}.touch() AS w"), {}))
    task = running_task(db, tenant, {"report_name": "w", "source": "writer"})
    with pytest.raises(PermanentTaskError, match=r"ReadOnlySqlTransaction \(25006\)"):
        run_report(db, infra, task)


def test_the_report_statement_timeout_applies(db, infra, tenant, monkeypatch, tmp_path):
    register(monkeypatch, tmp_path, slow=("SELECT pg_sleep(5) AS slept", {}))
    task = running_task(db, tenant, {"report_name": "slow", "source": "slow"})
    with pytest.raises(PermanentTaskError, match="statement timeout"):
        run_report(db, infra, task, OFFLOAD_REPORT_STATEMENT_TIMEOUT_MS="100")
    assert stored_file(db, tenant, task.id) is None


def test_an_unreachable_report_database_is_retried_not_failed(
    db, infra, tenant, monkeypatch, tmp_path
):
    register(monkeypatch, tmp_path, one=("SELECT 1 AS one", {}))
    task = running_task(db, tenant, {"report_name": "one", "source": "one"})
    with pytest.raises(StoreUnavailable):
        run_report(
            db, infra, task, OFFLOAD_REPORT_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"
        )


SERIES = (
    "SELECT g AS id, 'row ' || g AS label, g * 0.5 AS half"
    " FROM (SELECT generate_series(1, %(rows)s) AS g) AS series"
)


def test_a_100k_row_report_is_read_in_chunks_and_reads_back_whole(
    db, infra, tenant, monkeypatch, tmp_path
):
    register(monkeypatch, tmp_path, series=(SERIES, {"rows": "integer"}))
    task = running_task(
        db, tenant, {"report_name": "big", "source": "series", "source_params": {"rows": 100_000}}
    )
    progress: list[int] = []

    result = run_report(db, infra, task, progress=progress.append)

    _, content = stored_file(db, tenant, task.id)
    frame = pd.read_excel(io.BytesIO(content), sheet_name=SHEET, engine="openpyxl")
    assert list(frame.columns) == ["id", "label", "half"]
    assert len(frame) == result["rows"] == 100_000
    assert frame["id"].tolist() == list(range(1, 100_001))
    assert frame.iloc[-1].tolist() == [100_000, "row 100000", 50_000.0]
    assert len(progress) == 11  # one checkpoint per 10,000-row chunk, one before storing
    assert progress == sorted(progress)


# -- cancellation through a real worker --------------------------------------------------------


def test_a_report_cancelled_while_running_stops_between_chunks_and_stores_nothing(
    db, infra, tenant, redis_broker, monkeypatch, tmp_path
):
    register(monkeypatch, tmp_path, series=(SERIES, {"rows": "integer"}))
    task_actor("reports.generate_excel", broker=redis_broker)(actors.generate_excel)
    store = TaskStore(db)
    # Twenty million rows: minutes of work, unless the cancel stops it.
    params = {"report_name": "huge", "source": "series", "source_params": {"rows": 20_000_000}}
    task = submit(
        store, Publisher(redis_broker), new_task(EXCEL, tenant, EXCEL.load_params(params))
    )
    worker = dramatiq.Worker(redis_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: store.get(tenant, task.id).progress > 0)
        requested = store.cancel(tenant, task.id)
        assert (requested.status, requested.cancel_requested_at is not None) == ("running", True)
        done = wait_for(lambda: finished(store, tenant, task.id))
    finally:
        worker.stop(timeout=10_000)
    assert (done.status, done.result) == ("cancelled", None)
    assert 0 < done.progress < 95
    assert [e.status for e in store.events(tenant, task.id)][-1] == "cancelled"
    assert stored_file(db, tenant, task.id) is None


def finished(store, tenant, task_id):
    task = store.get(tenant, task_id)
    return task if task.status in FINISHED else None
