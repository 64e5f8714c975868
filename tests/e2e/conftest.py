"""The whole system as real processes: the API (granian), three Dramatiq workers, SMTP."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
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

    def client(self, tenant: str) -> requests.Session:
        session = requests.Session()
        key = apikeys.create_key(self.db, tenant)
        session.headers["Authorization"] = f"Bearer {key}"
        return session

    def pause(self, worker: str) -> None:
        self.workers[worker].send(signal.SIGSTOP)

    def resume(self, worker: str) -> None:
        self.workers[worker].send(signal.SIGCONT)


@pytest.fixture(scope="session")
def stack(infra, db, tmp_path_factory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": infra.redis_url,
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
        yield Stack(url, mailbox, workers, db, children)
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
