"""The whole system as real processes: the API (granian), three Dramatiq workers, SMTP."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import requests
from aiosmtpd.controller import Controller

from offload_dev.procs import Child, free_port, stop_all, wait_until
from offload_shared import apikeys
from offload_shared.db import Database
from tests import proxy, services
from tests.smtp_servers import Mailbox

BIN = services.BIN
WORKERS = ("email", "report", "analytics")
SCHEDULER = "scheduler"
PROGRAMS = {name: f"offload-{name}-worker" for name in WORKERS} | {SCHEDULER: "offload-scheduler"}


@dataclass
class Stack:
    url: str
    mailbox: Mailbox
    workers: dict[str, Child]
    db: Database
    children: list[Child] = field(default_factory=list)
    logs: Path = Path()  # each process's output: NAME.log
    # Secrets in the stack's settings that no output may show (tests/e2e/test_logs.py).
    canaries: dict[str, str] = field(default_factory=dict)

    def client(self, tenant: str) -> requests.Session:
        session = requests.Session()
        key = apikeys.create_key(self.db, tenant)
        session.headers["Authorization"] = f"Bearer {key}"
        return session

    def pause(self, worker: str) -> None:
        self.workers[worker].send(signal.SIGSTOP)

    def resume(self, worker: str) -> None:
        self.workers[worker].send(signal.SIGCONT)


def canary() -> str:
    return f"canary{uuid.uuid4().hex}"


def _with_password(url: str, password: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or user}:{password}@{host}"))


def _postgres_takes(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error:
        return False
    return True


def _redis_takes(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=5).ping())
    except redis.RedisError:
        return False


def secret_settings(infra) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's URLs with a canary password each where the servers let one through (trust
    auth ignores it; a Redis without a password takes any for its `default` user), and canary
    passwords the stack has but never uses: (settings, canaries)."""
    canaries = {
        "OFFLOAD_SMTP_PASSWORD": canary(),  # no OFFLOAD_SMTP_USERNAME: never sent
        "OFFLOAD_REDIS_SENTINEL_PASSWORD": canary(),  # not a Sentinel URL: never sent
    }
    settings = {"DATABASE_URL": infra.database_url, "REDIS_URL": infra.redis_url, **canaries}
    for name, user, takes in (
        ("DATABASE_URL", "postgres", _postgres_takes),
        ("REDIS_URL", "default", _redis_takes),
    ):
        secret = canary()
        url = _with_password(settings[name], secret, user)
        if urlsplit(settings[name]).password is None and takes(url):
            settings[name] = url
            canaries[name] = secret
    return settings, canaries


@pytest.fixture(scope="session")
def stack(infra, db, tmp_path_factory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    secrets, canaries = secret_settings(infra)
    env = {
        **os.environ,
        **secrets,
        "OFFLOAD_LOG_FORMAT": "json",
        "OFFLOAD_LOG_LEVEL": "info",
        "OFFLOAD_API_ACCESS_LOG": "true",
        "OFFLOAD_SYNC_ALLOWED_HOSTS": "127.0.0.1",
        "OFFLOAD_API_HOST": "127.0.0.1",
        "OFFLOAD_API_WORKERS": "1",
        "OFFLOAD_SMTP_HOST": "127.0.0.1",
        "OFFLOAD_SMTP_PORT": str(smtp.port),
        "OFFLOAD_SMTP_FROM": "offload@example.com",
        "OFFLOAD_RETRY_BACKOFF_SECONDS": "0.2",
        "OFFLOAD_WORKER_THREADS": "2",
    }
    children: list[Child] = []
    try:
        # All boot side by side; then each is waited for through its health endpoint.
        booting = []
        for name, program in PROGRAMS.items():
            argv = [str(BIN / program)]
            child, health = services.start(name, argv, env, logs / f"{name}.log", ready=False)
            children.append(child)
            booting.append((child, health))
        api, url = services.start_api(env, logs / "api.log")
        children.append(api)
        for child, health in booting:
            wait_until(lambda h=health: services.answers(h), child, 60, "its /healthz")
        wait_until(lambda: services.answers(f"{url}/readyz"), api, 60, "the API to be ready")
        workers = dict(zip(WORKERS, children[: len(WORKERS)], strict=True))
        yield Stack(url, mailbox, workers, db, children, logs, canaries)
    finally:
        for child in children:
            child.send(signal.SIGCONT)
        stop_all(children, timeout=20)
        smtp.stop()


@dataclass
class LoneApi:
    """The API process alone (no workers), with short client timeouts so tests can see them."""

    url: str
    port: int
    child: Child
    max_body: int
    header_seconds: float
    body_seconds: float


@pytest.fixture(scope="session")
def lone_api(infra, tmp_path_factory) -> Iterator[LoneApi]:
    logs = tmp_path_factory.mktemp("lone-api-logs")
    header_seconds, body_seconds, max_body = 5.0, 5.0, 65_536
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": infra.redis_url,
        "OFFLOAD_API_HOST": "127.0.0.1",
        "OFFLOAD_API_WORKERS": "1",
        "OFFLOAD_API_HEADER_TIMEOUT_SECONDS": str(header_seconds),
        "OFFLOAD_API_BODY_TIMEOUT_SECONDS": str(body_seconds),
        "OFFLOAD_MAX_BODY_BYTES": str(max_body),
    }
    child, url = services.start_api(env, logs / "api.log")
    try:
        port = int(url.rsplit(":", 1)[1])
        yield LoneApi(url, port, child, max_body, header_seconds, body_seconds)
    finally:
        stop_all([child], timeout=20)


@dataclass
class ProxiedApi:
    """The API behind its nginx front, configured as deploy/ ships them: `url` and `port` are
    nginx's, `api_url` the API's own."""

    url: str
    port: int
    api_url: str
    bad_auth_burst: int


@pytest.fixture(scope="session")
def proxied_api(infra, tmp_path_factory) -> Iterator[ProxiedApi]:
    proxy.nginx()  # skips, saying why, where nginx is missing
    logs = tmp_path_factory.mktemp("proxied-api-logs")
    bad_auth_burst = 3
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": infra.redis_url,
        "OFFLOAD_API_HOST": "127.0.0.1",
        "OFFLOAD_API_WORKERS": "1",
        "OFFLOAD_TRUSTED_PROXY_HOPS": "1",
        "OFFLOAD_BAD_AUTH_BURST": str(bad_auth_burst),
    }
    child, api_url = services.start_api(env, logs / "api.log")
    try:
        api_port = int(api_url.rsplit(":", 1)[1])
        with proxy.running(api_port, logs / "nginx.log") as front:
            yield ProxiedApi(front.url, front.port, api_url, bad_auth_burst)
    finally:
        stop_all([child], timeout=20)
