"""Configuration, read from environment variables only (documented in the README's table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from offload_shared.errors import ConfigError
from offload_shared.redis_connection import RedisTarget

SmtpSecurity = Literal["none", "starttls", "ssl"]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError(f"{name} must be true or false")
    return raw in ("1", "true", "yes", "on")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be > 0")
    return value


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    security: SmtpSecurity = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "offload@localhost"
    timeout: float = 10.0
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class Settings:
    # URLs may embed passwords: kept out of repr() so a logged Settings leaks nothing.
    database_url: str = field(default="postgresql://localhost/offload", repr=False)
    redis_url: str = field(default="redis://localhost:6379/0", repr=False)
    redis_tls_ca_file: str | None = None
    redis_tls_cert_file: str | None = None
    redis_tls_key_file: str | None = None
    redis_sentinel_password: str | None = field(default=None, repr=False)
    api_host: str = "0.0.0.0"  # noqa: S104 - containers listen on all interfaces
    api_port: int = 8000
    api_workers: int = 1
    api_threads: int = 4
    api_access_log: bool = False
    db_pool_size: int = 4
    max_body_bytes: int = 1_048_576
    statement_timeout_ms: int = 5_000
    worker_statement_timeout_ms: int = 60_000
    retry_backoff_seconds: float = 5.0
    worker_processes: int = 1
    worker_threads: int = 4
    worker_lookahead: int = 2
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    artifact_ttl_days: int = 30
    report_database_url: str = field(default="", repr=False)
    report_statement_timeout_ms: int = 300_000
    sync_timeout: float = 10.0
    sync_max_bytes: int = 10_485_760
    sync_allowed_hosts: frozenset[str] = frozenset()
    priority_aging_seconds: float = 60.0
    lease_seconds: float = 15.0
    worker_heartbeat_seconds: float = 2.0
    worker_lost_seconds: float = 10.0
    worker_shutdown_seconds: float = 20.0
    cancel_grace_seconds: float = 30.0
    relay_interval_seconds: float = 0.5
    reaper_interval_seconds: float = 2.0
    republish_after_seconds: float = 30.0
    idempotency_ttl_hours: int = 48
    health_port: int = 0
    health_stale_seconds: float = 120.0
    task_modules: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        security = env.get("OFFLOAD_SMTP_SECURITY", "none").strip().lower() or "none"
        if security not in ("none", "starttls", "ssl"):
            raise ConfigError("OFFLOAD_SMTP_SECURITY must be one of none, starttls, ssl")
        default_port = {"none": 25, "starttls": 587, "ssl": 465}[security]
        smtp = SmtpSettings(
            host=env.get("OFFLOAD_SMTP_HOST", "localhost"),
            port=_int(env, "OFFLOAD_SMTP_PORT", default_port, minimum=1),
            security=security,  # type: ignore[arg-type]
            username=env.get("OFFLOAD_SMTP_USERNAME") or None,
            password=env.get("OFFLOAD_SMTP_PASSWORD") or None,
            sender=env.get("OFFLOAD_SMTP_FROM", "offload@localhost"),
            timeout=_float(env, "OFFLOAD_SMTP_TIMEOUT", 10.0),
            connect_timeout=_float(env, "OFFLOAD_SMTP_CONNECT_TIMEOUT", 10.0),
        )
        database_url = env.get("DATABASE_URL") or cls.database_url
        return cls(
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            redis_tls_ca_file=env.get("OFFLOAD_REDIS_TLS_CA_FILE") or None,
            redis_tls_cert_file=env.get("OFFLOAD_REDIS_TLS_CERT_FILE") or None,
            redis_tls_key_file=env.get("OFFLOAD_REDIS_TLS_KEY_FILE") or None,
            redis_sentinel_password=env.get("OFFLOAD_REDIS_SENTINEL_PASSWORD") or None,
            api_host=env.get("OFFLOAD_API_HOST") or cls.api_host,
            api_port=_int(env, "API_PORT", cls.api_port, minimum=1),
            api_workers=_int(env, "OFFLOAD_API_WORKERS", cls.api_workers, minimum=1),
            api_threads=_int(env, "OFFLOAD_API_THREADS", cls.api_threads, minimum=1),
            api_access_log=_bool(env, "OFFLOAD_API_ACCESS_LOG", cls.api_access_log),
            db_pool_size=_int(env, "OFFLOAD_DB_POOL_SIZE", cls.db_pool_size, minimum=1),
            max_body_bytes=_int(env, "OFFLOAD_MAX_BODY_BYTES", cls.max_body_bytes, minimum=1),
            statement_timeout_ms=_int(
                env, "OFFLOAD_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms, minimum=1
            ),
            worker_statement_timeout_ms=_int(
                env,
                "OFFLOAD_WORKER_STATEMENT_TIMEOUT_MS",
                cls.worker_statement_timeout_ms,
                minimum=1,
            ),
            retry_backoff_seconds=_float(
                env, "OFFLOAD_RETRY_BACKOFF_SECONDS", cls.retry_backoff_seconds
            ),
            worker_processes=_int(env, "OFFLOAD_WORKER_PROCESSES", 1, minimum=1),
            worker_threads=_int(env, "OFFLOAD_WORKER_THREADS", 4, minimum=1),
            worker_lookahead=_int(env, "OFFLOAD_WORKER_LOOKAHEAD", cls.worker_lookahead),
            smtp=smtp,
            artifact_ttl_days=_int(env, "OFFLOAD_ARTIFACT_TTL_DAYS", 30, minimum=1),
            report_database_url=env.get("OFFLOAD_REPORT_DATABASE_URL") or database_url,
            report_statement_timeout_ms=_int(
                env, "OFFLOAD_REPORT_STATEMENT_TIMEOUT_MS", 300_000, minimum=1
            ),
            sync_timeout=_float(env, "OFFLOAD_SYNC_TIMEOUT", 10.0),
            sync_max_bytes=_int(env, "OFFLOAD_SYNC_MAX_BYTES", 10_485_760, minimum=1),
            priority_aging_seconds=_float(
                env, "OFFLOAD_PRIORITY_AGING_SECONDS", cls.priority_aging_seconds
            ),
            lease_seconds=_float(env, "OFFLOAD_LEASE_SECONDS", cls.lease_seconds),
            worker_heartbeat_seconds=_float(
                env, "OFFLOAD_WORKER_HEARTBEAT_SECONDS", cls.worker_heartbeat_seconds
            ),
            worker_lost_seconds=_float(env, "OFFLOAD_WORKER_LOST_SECONDS", cls.worker_lost_seconds),
            worker_shutdown_seconds=_float(
                env, "OFFLOAD_WORKER_SHUTDOWN_SECONDS", cls.worker_shutdown_seconds
            ),
            cancel_grace_seconds=_float(
                env, "OFFLOAD_CANCEL_GRACE_SECONDS", cls.cancel_grace_seconds
            ),
            relay_interval_seconds=_float(
                env, "OFFLOAD_RELAY_INTERVAL_SECONDS", cls.relay_interval_seconds
            ),
            reaper_interval_seconds=_float(
                env, "OFFLOAD_REAPER_INTERVAL_SECONDS", cls.reaper_interval_seconds
            ),
            republish_after_seconds=_float(
                env, "OFFLOAD_REPUBLISH_AFTER_SECONDS", cls.republish_after_seconds
            ),
            idempotency_ttl_hours=_int(
                env, "OFFLOAD_IDEMPOTENCY_TTL_HOURS", cls.idempotency_ttl_hours, minimum=24
            ),
            health_port=_int(env, "OFFLOAD_HEALTH_PORT", cls.health_port),
            health_stale_seconds=_float(
                env, "OFFLOAD_HEALTH_STALE_SECONDS", cls.health_stale_seconds
            ),
            task_modules=tuple(
                m.strip() for m in env.get("OFFLOAD_TASK_MODULES", "").split(",") if m.strip()
            ),
            sync_allowed_hosts=frozenset(
                h.strip().lower()
                for h in env.get("OFFLOAD_SYNC_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
        )

    @property
    def redis(self) -> RedisTarget:
        return RedisTarget(
            self.redis_url,
            tls_ca_file=self.redis_tls_ca_file,
            tls_cert_file=self.redis_tls_cert_file,
            tls_key_file=self.redis_tls_key_file,
            sentinel_password=self.redis_sentinel_password,
        )
