"""The API's connections to Postgres and Redis, built once per app (Flask extension pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from offload_shared.apikeys import KeyResolver
from offload_shared.artifacts import ArtifactStore, PostgresArtifacts
from offload_shared.broker import make_broker
from offload_shared.db import Database
from offload_shared.outbox import OutboxSweeper
from offload_shared.publisher import Publisher
from offload_shared.settings import Settings
from offload_shared.store import TaskStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    store: TaskStore
    publisher: Publisher
    keys: KeyResolver
    artifacts: ArtifactStore

    def close(self) -> None:
        self.publisher.close()  # sweeps the last outbox rows first
        self.db.close()


def init_app(app: Flask, settings: Settings) -> Services:
    db = Database(
        settings.database_url,
        max_size=settings.db_pool_size,
        statement_timeout_ms=settings.statement_timeout_ms,
        application_name="offload-api",
    )
    broker = make_broker(settings.redis, aging_seconds=settings.priority_aging_seconds)
    broker.redis.warn_if_evicting()
    services = Services(
        settings=settings,
        db=db,
        store=TaskStore(db),
        publisher=Publisher(broker, OutboxSweeper(db)),
        keys=KeyResolver(db),
        artifacts=PostgresArtifacts(db, ttl=timedelta(days=settings.artifact_ttl_days)),
    )
    app.extensions["offload"] = services
    return services


def services() -> Services:
    return current_app.extensions["offload"]  # type: ignore[no-any-return]
