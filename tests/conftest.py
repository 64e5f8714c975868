"""Shared fixtures: real Postgres and Redis for the integration and end-to-end suites.

The tests use their own database (`offload_test`) and Redis database (15), found on localhost
or started embedded, so a developer's data is never touched. OFFLOAD_TEST_DATABASE_URL and
OFFLOAD_TEST_REDIS_URL point them elsewhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from offload_dev import embedded
from offload_shared import apikeys, migrate
from offload_shared.db import Database
from offload_shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass(frozen=True)
class Infra:
    database_url: str
    redis_url: str

    def other_redis_db(self, db: int) -> str:
        """The same Redis server, another database: for a second system running beside `stack`."""
        parts = urlsplit(self.redis_url)
        return urlunsplit(parts._replace(path=f"/{db}"))

    def settings(self, **overrides: str) -> Settings:
        env = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}
        return Settings.from_env(env | overrides)


def wait_for(check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with its last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    state = ROOT / ".offload" / "test"
    database_url = os.environ.get("OFFLOAD_TEST_DATABASE_URL") or embedded.resolve_postgres(
        state, "offload_test"
    )
    redis_url = os.environ.get("OFFLOAD_TEST_REDIS_URL") or embedded.resolve_redis(state, 15)
    migrate.migrate(database_url, 0)  # start from an empty schema every session
    migrate.migrate(database_url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield Infra(database_url, redis_url)
    embedded.stop()


@pytest.fixture(scope="session")
def db(infra: Infra) -> Iterator[Database]:
    database = Database(infra.database_url, max_size=4)
    yield database
    database.close()


@pytest.fixture
def redis_client(infra: Infra) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(infra.redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test: tests never see each other's tasks."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api_key(db: Database, tenant: str) -> str:
    return apikeys.create_key(db, tenant)


_COST = {"unit": 0, "deploy": 0, "integration": 1, "faults": 2, "e2e": 3}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder and run the cheap ones first."""
    for item in items:
        kind = Path(str(item.path)).relative_to(ROOT / "tests").parts[0]
        if kind in ("integration", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))
    items.sort(key=lambda i: _COST.get(Path(str(i.path)).relative_to(ROOT / "tests").parts[0], 9))
