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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from dramatiq import Broker

from offload_dev import embedded
from offload_shared import apikeys, migrate
from offload_shared.catalog import get_spec
from offload_shared.db import Database
from offload_shared.enqueue import new_task, submit
from offload_shared.models import Task
from offload_shared.publisher import Publisher
from offload_shared.settings import Settings
from offload_shared.store import TaskStore

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


# -- the one task factory ---------------------------------------------------------------------

EMAIL = "email.send_notification"
EMAIL_PARAMS: dict[str, Any] = {"to": ["a@example.com"], "subject": "s", "body": "b"}


def make_task(task_name: str = EMAIL, params: dict[str, Any] | None = None, **fields: Any) -> Task:
    """A Task in memory, as a worker gets it once claimed (no database): params validated by
    the catalog entry's schema, catalog defaults, `fields` overriding any column."""
    spec = get_spec(task_name)
    now = datetime.now(UTC)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), tenant="t", task_name=spec.name, task_type=spec.category,
        queue=spec.queue, priority=spec.default_priority, status="running",
        params=spec.load_params(EMAIL_PARAMS if params is None else params), result=None,
        error_message=None, progress=0, attempts=1, retry_count=0,
        max_retries=spec.default_max_retries, time_limit_ms=spec.time_limit_ms, created_at=now,
        next_attempt_at=None, started_at=now, completed_at=None,
    )  # fmt: skip
    return Task(**(values | fields))


def create_task(
    db: Database, tenant: str, task_name: str = EMAIL, params: dict[str, Any] | None = None,
    **options: Any,
) -> Task:  # fmt: skip
    """A stored task, not published (as the API stores one: params validated by its schema)."""
    spec = get_spec(task_name)
    loaded = spec.load_params(EMAIL_PARAMS if params is None else params)
    return TaskStore(db).create(new_task(spec, tenant, loaded, **options))


def submit_task(
    db: Database, broker: Broker, tenant: str, task_name: str = EMAIL,
    params: dict[str, Any] | None = None, **options: Any,
) -> Task:  # fmt: skip
    """A stored and published task: the API's enqueue path."""
    spec = get_spec(task_name)
    loaded = spec.load_params(EMAIL_PARAMS if params is None else params)
    return submit(TaskStore(db), Publisher(broker), new_task(spec, tenant, loaded, **options))


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
