"""Configuration, read from environment variables only: one declarative table.

Every setting is declared once, as a field of `Settings` (or of its `SmtpSettings`) made by
`setting(...)`: its variable, default, bounds and one-line doc. One generic loader,
`Settings.from_env`, reads them all by their types; a malformed value stops the service with a
ConfigError naming the variable, never its value. The README's configuration table lists
exactly these variables with these defaults (tests/unit/test_settings.py checks it).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from psycopg import conninfo

from offload_shared import task_limits
from offload_shared.errors import ConfigError
from offload_shared.redis_connection import RedisTarget

__all__ = [
    "ClientSettings",
    "LogFormat",
    "LogLevel",
    "Setting",
    "Settings",
    "SmtpSettings",
    "declared",
    "env_name",
    "load_or_exit",
    "setting",
]

SmtpSecurity = Literal["none", "starttls", "ssl"]
LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
T = TypeVar("T")
SMTP_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One environment variable: what the README's table says of it."""

    env: str
    doc: str
    minimum: int = 0  # integers only; numbers (floats) must be > 0
    shown: str | None = None  # the README's default cell, when it is not the value itself
    parse: Callable[[str], Any] | None = None  # for a value no type says how to read

    def readme_default(self, default: Any) -> str:
        if self.shown is not None:
            return self.shown
        if default in (None, "", (), frozenset()):
            return "—"
        if isinstance(default, bool):
            return f"`{str(default).lower()}`"
        if isinstance(default, float) and default.is_integer():
            return f"`{int(default)}`"
        return f"`{default}`"


def setting(
    env: str,
    default: Any,
    doc: str,
    *,
    minimum: int = 0,
    shown: str | None = None,
    secret: bool = False,
    parse: Callable[[str], Any] | None = None,
) -> Any:
    """A field read from `env` (`secret`: kept out of repr, e.g. URLs with passwords)."""
    meta = {"setting": Setting(env, doc, minimum, shown, parse)}
    return field(default=default, repr=not secret, metadata=meta)


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _task_limits(raw: str) -> tuple[task_limits.Rule, ...]:
    try:
        return task_limits.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"OFFLOAD_TASK_LIMITS: {exc}") from None


def _hosts(raw: str) -> frozenset[str]:
    return frozenset(name.lower() for name in _names(raw))


@dataclass(frozen=True)
class SmtpSettings:
    host: str = setting("OFFLOAD_SMTP_HOST", "localhost", "SMTP server")
    port: int = setting(
        "OFFLOAD_SMTP_PORT", 0, "SMTP port", minimum=1, shown="25 / 587 / 465 by security"
    )
    security: SmtpSecurity = setting(
        "OFFLOAD_SMTP_SECURITY", "none", "`none`, `starttls` or `ssl` (implicit TLS)"
    )
    username: str | None = setting(
        "OFFLOAD_SMTP_USERNAME", None, "login user, if the server needs one"
    )
    password: str | None = setting(
        "OFFLOAD_SMTP_PASSWORD", None, "login password (never logged)", secret=True
    )
    sender: str = setting("OFFLOAD_SMTP_FROM", "offload@localhost", "sender address")
    connect_timeout: float = setting(
        "OFFLOAD_SMTP_CONNECT_TIMEOUT", 10.0, "seconds to connect and get the server's greeting"
    )
    timeout: float = setting("OFFLOAD_SMTP_TIMEOUT", 10.0, "seconds to wait for each SMTP reply")

    def __post_init__(self) -> None:
        if not self.port:  # by security
            object.__setattr__(self, "port", SMTP_PORTS[self.security])


@dataclass(frozen=True)
class ClientSettings:
    """What the `offload` command reads to reach the API (no service reads these)."""

    api_url: str = setting(
        "OFFLOAD_API_URL", "http://127.0.0.1:8000", "the API the `offload` command talks to"
    )
    api_key: str | None = setting(
        "OFFLOAD_API_KEY", None, "the `offload` command's API key (never printed)", secret=True
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSettings:
        return _load(cls, os.environ if env is None else env)


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        "DATABASE_URL", "postgresql://localhost/offload", "Postgres (libpq URL)", secret=True
    )
    redis_url: str = setting("REDIS_URL", "redis://localhost:6379/0", "Redis", secret=True)
    redis_tls_ca_file: str | None = setting(
        "OFFLOAD_REDIS_TLS_CA_FILE", None, "PEM file of the Redis server's CA", shown="system CAs"
    )
    redis_tls_cert_file: str | None = setting(
        "OFFLOAD_REDIS_TLS_CERT_FILE", None, "PEM client certificate for Redis"
    )
    redis_tls_key_file: str | None = setting(
        "OFFLOAD_REDIS_TLS_KEY_FILE", None, "the client certificate's private key"
    )
    redis_sentinel_password: str | None = setting(
        "OFFLOAD_REDIS_SENTINEL_PASSWORD", None, "the sentinels' own password", secret=True
    )
    log_format: LogFormat = setting(
        "OFFLOAD_LOG_FORMAT", "json", "`json` (one object per line) or `text`"
    )
    log_level: LogLevel = setting(
        "OFFLOAD_LOG_LEVEL", "info", "lowest level logged", shown="`INFO`"
    )
    api_host: str = setting("OFFLOAD_API_HOST", "0.0.0.0", "interface the API listens on")  # noqa: S104
    api_port: int = setting("API_PORT", 8000, "port the API listens on", minimum=1)
    api_workers: int = setting("OFFLOAD_API_WORKERS", 1, "API processes", minimum=1)
    api_threads: int = setting("OFFLOAD_API_THREADS", 4, "threads per API process", minimum=1)
    api_access_log: bool = setting("OFFLOAD_API_ACCESS_LOG", False, "log every request")
    metrics_token: str | None = setting(
        "OFFLOAD_METRICS_TOKEN", None, "bearer token of the API's GET /metrics (unset: off)",
        secret=True,
    )  # fmt: skip
    max_body_bytes: int = setting(
        "OFFLOAD_MAX_BODY_BYTES", 1_048_576, "largest request body accepted", minimum=1
    )
    trusted_proxy_hops: int = setting(
        "OFFLOAD_TRUSTED_PROXY_HOPS", 0, "proxies in front of the API that add X-Forwarded-For"
    )
    api_header_timeout_seconds: float = setting(
        "OFFLOAD_API_HEADER_TIMEOUT_SECONDS", 10.0, "time a client gets to send its headers"
    )
    api_body_timeout_seconds: float = setting(
        "OFFLOAD_API_BODY_TIMEOUT_SECONDS", 20.0, "time a client gets to send its whole body"
    )
    api_streams: int = setting(
        "OFFLOAD_API_STREAMS", 32, "event streams an API process serves at once", minimum=1
    )
    ui_session_hours: float = setting(
        "OFFLOAD_UI_SESSION_HOURS", 8.0, "how long a dashboard login lasts"
    )
    db_pool_size: int = setting(
        "OFFLOAD_DB_POOL_SIZE", 4, "Postgres connections per API process", minimum=1
    )
    statement_timeout_ms: int = setting(
        "OFFLOAD_STATEMENT_TIMEOUT_MS", 5_000, "the API's Postgres statement timeout", minimum=1
    )
    worker_statement_timeout_ms: int = setting(
        "OFFLOAD_WORKER_STATEMENT_TIMEOUT_MS", 60_000, "workers' statement timeout", minimum=1
    )
    artifact_ttl_days: int = setting(
        "OFFLOAD_ARTIFACT_TTL_DAYS", 30, "how long report files are kept", minimum=1
    )
    worker_processes: int = setting(
        "OFFLOAD_WORKER_PROCESSES", 1, "Dramatiq worker processes", minimum=1
    )
    worker_threads: int = setting(
        "OFFLOAD_WORKER_THREADS", 4, "threads per worker process", minimum=1
    )
    retry_backoff_seconds: float = setting(
        "OFFLOAD_RETRY_BACKOFF_SECONDS", 5.0, "first retry delay; doubles per retry"
    )
    worker_heartbeat_seconds: float = setting(
        "OFFLOAD_WORKER_HEARTBEAT_SECONDS", 2.0, "how often a worker writes its heartbeat"
    )
    worker_shutdown_seconds: float = setting(
        "OFFLOAD_WORKER_SHUTDOWN_SECONDS", 20.0, "how long in-flight tasks get on SIGTERM"
    )
    cancel_grace_seconds: float = setting(
        "OFFLOAD_CANCEL_GRACE_SECONDS", 30.0, "how long a task may ignore a cancel request"
    )
    health_port: int = setting(
        "OFFLOAD_HEALTH_PORT", 0, "port of GET /healthz", shown="`0` (off); `9191` in the images"
    )
    health_stale_seconds: float = setting(
        "OFFLOAD_HEALTH_STALE_SECONDS", 120.0, "silence that makes /healthz answer 503"
    )
    worker_lookahead: int = setting(
        "OFFLOAD_WORKER_LOOKAHEAD", 2, "tasks claimed ahead of the free threads"
    )
    lease_seconds: float = setting("OFFLOAD_LEASE_SECONDS", 15.0, "a claimed message's lease")
    priority_aging_seconds: float = setting(
        "OFFLOAD_PRIORITY_AGING_SECONDS", 60.0, "the priority aging step"
    )
    task_modules: tuple[str, ...] = setting(
        "OFFLOAD_TASK_MODULES", (), "modules that register a team's own tasks", parse=_names
    )
    task_limits: tuple[task_limits.Rule, ...] = setting(
        "OFFLOAD_TASK_LIMITS", (), "rate and concurrency limits per task type and tenant",
        parse=_task_limits,
    )  # fmt: skip
    worker_lost_seconds: float = setting(
        "OFFLOAD_WORKER_LOST_SECONDS", 10.0, "heartbeat silence after which a worker is lost"
    )
    relay_interval_seconds: float = setting(
        "OFFLOAD_RELAY_INTERVAL_SECONDS", 0.5, "how often the outbox relay runs"
    )
    reaper_interval_seconds: float = setting(
        "OFFLOAD_REAPER_INTERVAL_SECONDS", 2.0, "how often the reaper runs"
    )
    republish_after_seconds: float = setting(
        "OFFLOAD_REPUBLISH_AFTER_SECONDS", 30.0, "the reconciliation's slow-walk window"
    )
    schedule_misfire_grace_seconds: float = setting(
        "OFFLOAD_SCHEDULE_MISFIRE_GRACE_SECONDS", 60.0,
        "a schedule's fire time this late still fires; older ones follow its misfire policy",
    )  # fmt: skip
    idempotency_ttl_hours: int = setting(
        "OFFLOAD_IDEMPOTENCY_TTL_HOURS", 48, "how long Idempotency-Keys are kept", minimum=24
    )
    api_key_cache_seconds: float = setting(
        "OFFLOAD_API_KEY_CACHE_SECONDS", 10.0, "how long a key lookup is trusted"
    )
    rate_limit_per_key: float = setting(
        "OFFLOAD_RATE_LIMIT_PER_KEY", 100.0, "requests per second per API key"
    )
    rate_limit_per_key_burst: int = setting(
        "OFFLOAD_RATE_LIMIT_PER_KEY_BURST", 200, "requests an idle key may send at once", minimum=1
    )
    rate_limit_per_tenant: float = setting(
        "OFFLOAD_RATE_LIMIT_PER_TENANT", 300.0, "requests per second per tenant, all its keys"
    )
    rate_limit_per_tenant_burst: int = setting(
        "OFFLOAD_RATE_LIMIT_PER_TENANT_BURST", 600, "a tenant's burst", minimum=1
    )
    bad_auth_per_client: float = setting(
        "OFFLOAD_BAD_AUTH_PER_CLIENT", 1.0, "failed authentications per second per client address"
    )
    bad_auth_burst: int = setting(
        "OFFLOAD_BAD_AUTH_BURST", 20, "failed authentications a client may make at once", minimum=1
    )
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    report_sources_file: str | None = setting(
        "OFFLOAD_REPORT_SOURCES", None, "TOML file of registered report sources"
    )
    report_database_url: str = setting(
        "OFFLOAD_REPORT_DATABASE_URL", "", "where registered sources run",
        secret=True, shown="`DATABASE_URL`",
    )  # fmt: skip
    report_statement_timeout_ms: int = setting(
        "OFFLOAD_REPORT_STATEMENT_TIMEOUT_MS", 300_000, "report queries' timeout", minimum=1
    )
    sync_timeout: float = setting(
        "OFFLOAD_SYNC_TIMEOUT", 10.0, "seconds to connect and per read of a metrics source"
    )
    sync_max_bytes: int = setting(
        "OFFLOAD_SYNC_MAX_BYTES", 10_485_760, "largest metrics response accepted", minimum=1
    )
    sync_allowed_hosts: frozenset[str] = setting(
        "OFFLOAD_SYNC_ALLOWED_HOSTS", frozenset(), "hosts that may be private", parse=_hosts
    )

    def __post_init__(self) -> None:
        if not self.report_database_url:
            object.__setattr__(self, "report_database_url", self.database_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _load(cls, os.environ if env is None else env)

    @property
    def redis(self) -> RedisTarget:
        return RedisTarget(
            self.redis_url,
            tls_ca_file=self.redis_tls_ca_file,
            tls_cert_file=self.redis_tls_cert_file,
            tls_key_file=self.redis_tls_key_file,
            sentinel_password=self.redis_sentinel_password,
        )


def load_or_exit(program: str) -> Settings:
    """A service's settings at start; a malformed value ends it with one line naming the
    variable (exit status 2), not a traceback."""
    from offload_shared import report_sources  # it names its variable from this table

    try:
        settings = Settings.from_env()
        report_sources.registry()  # a sources file that cannot be read or parsed: now
    except ConfigError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings


def declared(kind: type = Settings, prefix: str = "") -> Iterator[tuple[str, Setting, Any]]:
    """Every setting as (attribute path, declaration, default), nested ones included: the
    README's table."""
    for f in dataclasses.fields(kind):
        if "setting" in f.metadata:
            yield prefix + f.name, f.metadata["setting"], f.default
        else:
            yield from declared(f.default_factory, f"{prefix}{f.name}.")  # type: ignore[arg-type]


def env_name(attribute: str) -> str:
    """The variable a Settings attribute is read from."""
    return Settings.__dataclass_fields__[attribute].metadata["setting"].env


def _load(kind: type[T], env: Mapping[str, str]) -> T:
    hints = typing.get_type_hints(kind)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):  # type: ignore[arg-type]
        spec: Setting | None = f.metadata.get("setting")
        if spec is None:  # a nested group (SmtpSettings)
            values[f.name] = _load(hints[f.name], env)
            continue
        raw = env.get(spec.env, "")
        if raw.strip():  # unset or blank: the default
            values[f.name] = _parse(spec, hints[f.name], raw)
    if "database_url" in values:
        _check_libpq_url(values["database_url"])
    return kind(**values)


def _parse(spec: Setting, hint: Any, value: str) -> Any:
    """`value` as the setting's type; text is kept as given (a password may end in a space),
    everything else is read without surrounding blanks."""
    raw = value.strip()
    if spec.parse is not None:
        return spec.parse(raw)
    kind = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: read as X
        kind = next(k for k in typing.get_args(hint) if k is not type(None))
    if typing.get_origin(kind) is Literal:
        allowed = typing.get_args(kind)
        if raw.lower() not in allowed:
            raise ConfigError(f"{spec.env} must be one of {', '.join(allowed)}")
        return raw.lower()
    if kind is bool:
        if raw.lower() not in TRUE + FALSE:
            raise ConfigError(f"{spec.env} must be true or false")
        return raw.lower() in TRUE
    if kind is int:
        try:
            whole = int(raw)
        except ValueError:
            raise ConfigError(f"{spec.env} must be an integer") from None
        if whole < spec.minimum:
            raise ConfigError(f"{spec.env} must be >= {spec.minimum}")
        return whole
    if kind is float:
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"{spec.env} must be a number") from None
        if not number > 0:
            raise ConfigError(f"{spec.env} must be > 0")
        return number
    return value


def _check_libpq_url(url: str) -> None:
    try:
        conninfo.conninfo_to_dict(url)
    except Exception:  # psycopg.ProgrammingError; the text would echo the URL
        raise ConfigError("DATABASE_URL is not a valid libpq URL or connection string") from None
