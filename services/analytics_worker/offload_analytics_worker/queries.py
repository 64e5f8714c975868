"""The analytics worker's named SQL (queries.sql) and its consistent read-only transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from offload_shared.db import Connection, Database, Queries

PACKAGE = "offload_analytics_worker"
sql = Queries(PACKAGE)  # sql("name"): the statement of that name in this package's queries.sql


@contextmanager
def read_snapshot(db: Database) -> Iterator[Connection]:
    """A read-only REPEATABLE READ transaction: several queries, one consistent view."""
    with db.transaction() as conn:
        conn.execute(sql("read_only_snapshot"))
        yield conn


def fetch_all(conn: Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return conn.execute(sql(name), params).fetchall()
