"""The admin commands' way to Postgres: DATABASE_URL, one connection, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from offload_shared.db import Database
from offload_shared.settings import Settings

__all__ = ["NEEDS_POSTGRES", "database", "database_url"]

NEEDS_POSTGRES = "Needs Postgres (DATABASE_URL), not the API."


def database_url() -> str:
    return Settings.from_env().database_url


@contextmanager
def database() -> Iterator[Database]:
    db = Database(database_url(), max_size=1)
    try:
        yield db
    finally:
        db.close()
