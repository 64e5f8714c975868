"""The API's connections to Postgres and Redis, built once per app (Flask extension pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from offload_api.stream import StreamSlots
from offload_shared.apikeys import ApiKey, KeyResolver
from offload_shared.artifacts import ArtifactStore, PostgresArtifacts
from offload_shared.broker import make_broker
from offload_shared.db import Database
from offload_shared.gauges import PostgresFigures
from offload_shared.outbox import OutboxSweeper
from offload_shared.publisher import Publisher
from offload_shared.ratelimit import Bucket, RateLimiter
from offload_shared.settings import Settings
from offload_shared.store import TaskStore


@dataclass(frozen=True)
class Limits:
    """The API's token buckets, as the settings size them."""

    settings: Settings

    def for_key(self, grant: ApiKey) -> list[Bucket]:
        s = self.settings
        # {tenant} is a Redis Cluster hash tag: both buckets of a request live on one node.
        return [
            Bucket(f"{{{grant.tenant}}}:key:{grant.id}", s.rate_limit_per_key,
                   s.rate_limit_per_key_burst),
            Bucket(f"{{{grant.tenant}}}:tenant", s.rate_limit_per_tenant,
                   s.rate_limit_per_tenant_burst),
        ]  # fmt: skip

    def bad_auth(self, client: str) -> Bucket:
        return Bucket(f"bad-auth:{client}", self.settings.bad_auth_per_client,
                      self.settings.bad_auth_burst)  # fmt: skip


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    store: TaskStore
    publisher: Publisher
    keys: KeyResolver
    artifacts: ArtifactStore
    limiter: RateLimiter
    limits: Limits
    figures: PostgresFigures  # what GET /metrics reads from Postgres
    streams: StreamSlots

    def close(self) -> None:
        self.keys.flush()  # the last-used times noted since the last write
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
        keys=KeyResolver(db, settings.api_key_cache_seconds),
        artifacts=PostgresArtifacts(db, ttl=timedelta(days=settings.artifact_ttl_days)),
        limiter=RateLimiter(broker.client),  # the broker's connection pool, no second one
        limits=Limits(settings),
        figures=PostgresFigures(db, lost_seconds=settings.worker_lost_seconds),
        streams=StreamSlots(settings.api_streams),
    )
    app.extensions["offload"] = services
    return services


def services() -> Services:
    return current_app.extensions["offload"]  # type: ignore[no-any-return]
