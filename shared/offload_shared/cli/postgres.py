"""The admin commands' way to Postgres: DATABASE_URL, one connection, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from offload_shared.db import Database, connect
from offload_shared.settings import Settings

__all__ = ["NEEDS_POSTGRES", "database", "database_url"]

NEEDS_POSTGRES = "Needs Postgres (DATABASE_URL), not the API."


def database_url() -> str:
    return Settings.from_env().database_url


@contextmanager
def database() -> Iterator[Database]:
    """A pool of one, once Postgres has answered: a first connection of its own fails at once
    when Postgres refuses it (the pool would retry for its whole 5 s timeout first)."""
    url = database_url()
    connect(url, connect_timeout=5).close()
    db = Database(url, max_size=1)
    try:
        yield db
    finally:
        db.close()
