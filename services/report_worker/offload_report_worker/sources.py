"""Where a report's rows come from: inline rows, the tenant's task history, a registered source.

Each source opens as a context manager yielding `Rows`: the column names, what the summary
sheet should say about it, and an iterator of chunks (pandas frames with positional columns).
Database sources read through a server-side (named) cursor, `chunk_rows` at a time, inside a
READ ONLY transaction with a statement timeout, so a report never holds more than one chunk.

- task_history: the calling tenant's rows of offload.tasks, on the worker's own pool, in one
  REPEATABLE READ snapshot (so the row count used for progress matches the rows read).
- a registered source: the operator's SQL (offload_shared.report_sources) on its own
  connection to `report_database_url`: READ ONLY (also as the connection's default, so a
  query cannot switch it back), `statement_timeout` = `report_statement_timeout_ms`. Values
  are bound, never spliced; `tenant` is always bound to the task's tenant. Errors retrying
  cannot fix (the query writes, is malformed, times out, refers to what does not exist) fail
  the task at once; an unreachable database is retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from offload_report_worker.cells import frame_from_rows
from offload_shared import report_sources
from offload_shared.db import Database, Queries, RowCursor, read_only_connection, row_cursor
from offload_shared.errors import PermanentTaskError, StoreError, StoreUnavailable
from offload_shared.settings import Settings

PACKAGE = "offload_report_worker"
query = Queries(PACKAGE)
CHUNK_ROWS = 10_000
TASK_HISTORY_COLUMNS = (
    "task_id",
    "task_name",
    "task_type",
    "status",
    "priority",
    "attempts",
    "retry_count",
    "created_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "error_message",
)
# SQLSTATE classes no retry can fix: data exception, integrity, invalid transaction state
# (25006: a write in a READ ONLY transaction), syntax or access rule, feature not supported...
PERMANENT_SQLSTATE_CLASSES = frozenset({"0A", "21", "22", "23", "25", "2B", "3F", "42", "44"})
QUERY_CANCELED = "57014"  # the statement timeout: the same query would time out again


@dataclass
class Rows:
    """A report's rows: `chunks` must be read inside the `open_rows` block."""

    label: str
    columns: list[str]
    chunks: Iterator[pd.DataFrame]
    total: int | None = None  # when known up front: for progress
    parameters: dict[str, Any] = field(default_factory=dict)


@contextmanager
def open_rows(
    params: Mapping[str, Any],
    *,
    tenant: str,
    db: Database,
    settings: Settings,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Rows]:
    """The rows of a `reports.generate_excel` task, from whichever source its params name."""
    if "columns" in params:
        yield inline_rows(params["columns"], params["rows"], chunk_rows=chunk_rows)
    elif "task_history" in params:
        with task_history(
            db, tenant, params["task_history"], settings=settings, chunk_rows=chunk_rows
        ) as rows:
            yield rows
    else:
        with registered_source(
            params["source"],
            params.get("source_params", {}),
            tenant=tenant,
            settings=settings,
            chunk_rows=chunk_rows,
        ) as rows:
            yield rows


def inline_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, chunk_rows: int = CHUNK_ROWS
) -> Rows:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, len(rows), chunk_rows):
            yield frame_from_rows(rows[start : start + chunk_rows], len(columns))

    return Rows("inline rows", list(columns), chunks(), total=len(rows))


@contextmanager
def task_history(
    db: Database,
    tenant: str,
    filters: Mapping[str, Any],
    *,
    settings: Settings,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Rows]:
    """The tenant's own tasks; created_from/created_to are inclusive UTC days."""
    bound = {
        "tenant": tenant,
        "status": filters.get("status"),
        "task_type": filters.get("task_type"),
        "task_name": filters.get("task_name"),
        "created_from": _day_start(filters.get("created_from")),
        "created_before": _day_start(filters.get("created_to"), days_after=1),
    }
    with db.transaction() as conn:
        conn.execute(query("begin_snapshot"))
        conn.execute(
            query("set_report_timeout"), {"timeout_ms": str(settings.report_statement_timeout_ms)}
        )
        count = conn.execute(query("task_history_count"), bound).fetchone()
        total = int(count["n"]) if count else 0
        with row_cursor(conn, "offload_report") as cursor:
            cursor.execute(query("task_history"), bound)
            yield Rows(
                "task history (offload.tasks)",
                list(TASK_HISTORY_COLUMNS),
                _fetch_chunks(cursor, len(TASK_HISTORY_COLUMNS), chunk_rows),
                total=total,
                parameters=dict(filters),
            )


@contextmanager
def registered_source(
    name: str,
    values: Mapping[str, Any],
    *,
    tenant: str,
    settings: Settings,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Rows]:
    """A registered source's rows; `values` were validated against its params by the API."""
    source = report_sources.registry().get(name)
    if source is None:  # unregistered since the task was accepted
        raise PermanentTaskError(f"report source {name!r} is not registered")
    bound = {**_typed_values(values, source.params), "tenant": tenant}
    label = f"registered source {name!r}" + (
        f": {source.description}" if source.description else ""
    )
    # Driver errors raised while the caller reads the chunks surface here too (at the yield).
    with (
        _source_errors(name),
        read_only_connection(
            settings.report_database_url,
            statement_timeout_ms=settings.report_statement_timeout_ms,
            application_name="offload-report",
        ) as conn,
        row_cursor(conn, "offload_report") as cursor,
    ):
        cursor.execute(source.sql, bound)
        columns = [column.name for column in cursor.description or ()]
        if not columns:
            raise PermanentTaskError(f"report source {name!r} returns no columns")
        yield Rows(
            label, columns, _fetch_chunks(cursor, len(columns), chunk_rows), parameters=dict(values)
        )


def _fetch_chunks(cursor: RowCursor, width: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
    while True:
        batch = cursor.fetchmany(chunk_rows)
        if not batch:
            return
        yield frame_from_rows(batch, width)


@contextmanager
def _source_errors(name: str) -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        raise _source_error(name, exc) from exc


def _source_error(name: str, exc: StoreError) -> Exception:
    """The error to record: its kind and SQLSTATE, never the statement or its values."""
    state = exc.sqlstate
    text = f"report source {name!r} failed: {exc.kind}" + (f" ({state})" if state else "")
    if state == QUERY_CANCELED:  # before unavailable: the driver counts it as operational
        return PermanentTaskError(f"{text}: statement timeout")
    if isinstance(exc, StoreUnavailable):
        return StoreUnavailable(text)
    if state is None or state[:2] in PERMANENT_SQLSTATE_CLASSES:
        return PermanentTaskError(text)  # no SQLSTATE: the driver refused a value
    return StoreError(text)


def _typed_values(values: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, Any]:
    """Source params as the driver should bind them: dates as dates, the rest as given."""
    return {
        key: dt.date.fromisoformat(value) if kinds.get(key) == "date" else value
        for key, value in values.items()
    }


def _day_start(day: str | None, *, days_after: int = 0) -> dt.datetime | None:
    if day is None:
        return None
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=days_after)
