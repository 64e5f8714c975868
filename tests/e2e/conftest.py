"""The whole system as real processes: the API (granian), three Dramatiq workers, SMTP."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller

from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until
from offload_shared import apikeys
from offload_shared.db import Database
from tests.smtp_servers import Mailbox

BIN = Path(sys.executable).parent
WORKERS = ("email", "report", "analytics")
SCHEDULER = "scheduler"


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


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def stack(infra, db, tmp_path_factory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": infra.redis_url,
        "API_PORT": str(port),
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
        api = spawn("api", [str(BIN / "offload-api")], env=env, log_file=logs / "api.log")
        children.append(api)
        workers = {}
        for name in WORKERS:
            log = logs / f"{name}.log"
            workers[name] = spawn(
                name, [str(BIN / f"offload-{name}-worker")], env=env, log_file=log
            )
            children.append(workers[name])
        children.append(
            spawn(
                SCHEDULER,
                [str(BIN / "offload-scheduler")],
                env=env,
                log_file=logs / "scheduler.log",
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/readyz"), api, 60, "the API to be ready")
        for name, child in workers.items():
            log = logs / f"{name}.log"
            wait_until(lambda log=log: _log_says(log, "ready for action"), child, 60, "boot")
        yield Stack(url, mailbox, workers, db, children)
    finally:
        for child in children:
            child.send(signal.SIGCONT)
        stop_all(children, timeout=20)
        smtp.stop()
