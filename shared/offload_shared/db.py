"""The Postgres connection pool, and the boundary where driver errors become Offload errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import orjson
import psycopg
import psycopg_pool
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb, set_json_loads

from offload_shared.errors import StoreError, StoreUnavailable
from offload_shared.sql import Queries

__all__ = [
    "Connection",
    "Database",
    "Json",
    "Queries",
    "RowCursor",
    "connect",
    "read_only_connection",
    "row_cursor",
    "wrap_exceptions",
]

log = logging.getLogger(__name__)

# json/jsonb read with orjson: faster, and a number jsonb keeps in full (a float sent as 1e29
# comes back as 100000000000000000000000000000) reads as a float, as it was sent, rather than
# as an integer no JSON encoder of ours could write back.
set_json_loads(orjson.loads)

Connection = psycopg.Connection[dict[str, Any]]
RowCursor = psycopg.ServerCursor[Any]  # rows as tuples, fetched `fetchmany(n)` at a time
Json = Jsonb  # a value bound as jsonb: services wrap JSON parameters with this, not psycopg's

RECONNECT_GIVE_UP_SECONDS = 5.0
# A connection idle in the pool for longer than this is checked (an empty query) before it is
# handed out; on a busy hot path connections come back far sooner and are never checked.
CHECK_IDLE_SECONDS = 1.0


@contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Translate psycopg errors; messages keep the SQLSTATE but never the statement's values."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise StoreUnavailable("no Postgres connection available") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        kind, state = type(exc).__name__, exc.sqlstate
        error = StoreUnavailable(f"Postgres unavailable ({kind})", sqlstate=state, kind=kind)
        # The driver's own text on a lost or refused connection helps an operator; a statement
        # Postgres cancelled or rolled back (a timeout, a deadlock) may quote its values.
        raise error from (exc if state is None or state.startswith("08") else None)
    except psycopg.Error as exc:
        # Only names (SQLSTATE, error class, constraint, table, column), never Postgres's own
        # text: its message, DETAIL and CONTEXT lines can quote the values. `from None` keeps
        # that text out of every traceback that is logged.
        kind, state = type(exc).__name__, exc.sqlstate
        # No SQLSTATE: the driver refused the statement before sending it (a value it cannot
        # convert, a placeholder without a value, ...).
        where = ", ".join(
            f"{label} {name}"
            for label, name in (
                ("constraint", exc.diag.constraint_name),
                ("table", exc.diag.table_name),
                ("column", exc.diag.column_name),
            )
            if name
        )
        message = f"Postgres error {kind} ({state or 'refused by the driver'})"
        raise StoreError(
            message + (f" on {where}" if where else ""), sqlstate=state, kind=kind
        ) from None


class Database:
    """A lazily opened psycopg 3 pool; every connection is autocommit with dict rows.

    Connections are not checked on every borrow (an empty query per borrow doubled the
    transactions on the hot path): only those idle for over CHECK_IDLE_SECONDS, which is what
    a Postgres restart or a network cut leaves in a quiet pool. A borrowed connection that
    still turns out broken fails its statement with StoreUnavailable, and that failure makes
    the pool check all its idle connections in the background, so the next borrows get live
    ones.
    """

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 4,
        statement_timeout_ms: int = 5_000,
        application_name: str = "offload",
        pool_timeout: float = 5.0,
        generic_plans: bool = False,
    ) -> None:
        """`generic_plans`: plan each prepared statement once (Postgres otherwise re-plans a
        statement whose plan depends on its parameters every time); for connections that run
        only the state machine's statements, whose plans do not."""
        options = f"-c statement_timeout={statement_timeout_ms}"
        if generic_plans:
            options += " -c plan_cache_mode=force_generic_plan"
        self._pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
            url,
            connection_class=psycopg.Connection[dict[str, Any]],
            min_size=1,
            max_size=max_size,
            timeout=pool_timeout,
            # psycopg_pool retries a lost connection after 1, 2, 4, 8 ... s until this runs out:
            # after a long outage it could stay away about as long again once Postgres is back.
            # Giving up early lets the next request start a fresh attempt at once.
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            open=False,
            check=_check_if_idle,
            configure=_stamp,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": 5,
                "application_name": application_name,
                "options": options,
            },
        )
        self._opened = False
        self._checking = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        try:
            with wrap_exceptions():
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
                with self._pool.connection() as conn:
                    yield conn
                    _stamp(conn)
        except StoreUnavailable:
            self._check_idle()
            raise

    def _check_idle(self) -> None:
        """Drop the pool's broken idle connections, in the background, one check at a time."""
        if self._opened and self._checking.acquire(blocking=False):

            def check() -> None:
                try:
                    self._pool.check()
                except Exception:  # the pool is closing, or Postgres is still away
                    log.debug("pool check failed", exc_info=True)
                finally:
                    self._checking.release()

            threading.Thread(target=check, name="offload-pool-check", daemon=True).start()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.connection() as conn, wrap_exceptions(), conn.transaction():
            yield conn

    def fetch_one(
        self, sql: LiteralString, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def fetch_all(
        self, sql: LiteralString, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def ping(self) -> None:
        self.fetch_one("SELECT 1")

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False


def _stamp(conn: Connection) -> None:
    conn._offload_used = time.monotonic()  # type: ignore[attr-defined]


def _check_if_idle(conn: Connection) -> None:
    if time.monotonic() - getattr(conn, "_offload_used", 0.0) > CHECK_IDLE_SECONDS:
        psycopg_pool.ConnectionPool.check_connection(conn)


def connect(url: str, **kwargs: Any) -> Connection:
    """One autocommit connection outside the pool (migrations, CLI)."""
    with wrap_exceptions():
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, **kwargs)


@contextmanager
def read_only_connection(
    url: str, *, statement_timeout_ms: int, application_name: str
) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own in READ ONLY mode, also as its default (so a statement cannot
    switch it back), with a statement timeout; driver errors become StoreError."""
    with wrap_exceptions():
        conn = psycopg.connect(
            url,
            connect_timeout=10,
            application_name=application_name,
            options=(
                f"-c statement_timeout={statement_timeout_ms} -c default_transaction_read_only=on"
            ),
        )
        with conn:
            conn.read_only = True
            with conn.transaction():
                yield conn


def row_cursor(conn: psycopg.Connection[Any], name: str) -> RowCursor:
    """A server-side cursor: rows stay in Postgres until fetched, `fetchmany(n)` at a time.
    Its statement runs inside the transaction the connection is in."""
    return conn.cursor(name=name, row_factory=tuple_row)
