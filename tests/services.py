"""Offload's services as real processes, started the one way the e2e stack and the fault suite
share: each in its own process group with its own log, ready once its health endpoint answers
200, as Kubernetes' probes see it (a worker's or the scheduler's /healthz on a port of its own,
OFFLOAD_HEALTH_PORT; the API's /healthz), never by reading its log."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until
from offload_shared import migrate

BIN = Path(sys.executable).parent
BOOT_SECONDS = 60


def answers(url: str) -> bool:
    """Whether `url` answers 200 (within a second)."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start(
    name: str,
    argv: list[str],
    env: Mapping[str, str],
    log_file: Path,
    *,
    cwd: Path | None = None,
    ready: bool = True,
) -> tuple[Child, str]:
    """Start a worker or the scheduler with a health port of its own; returns the child and its
    health URL, once that answers 200 (unless `ready` is False)."""
    port = free_port()
    child = spawn(name, argv, env={**env, "OFFLOAD_HEALTH_PORT": str(port)}, log_file=log_file,
                  cwd=cwd)  # fmt: skip
    health = f"http://127.0.0.1:{port}/healthz"
    if ready:
        _wait(child, health, "its /healthz to answer 200")
    return child, health


def start_api(
    env: Mapping[str, str], log_file: Path, *, cwd: Path | None = None
) -> tuple[Child, str]:
    """Start the API on a port of its own; returns the child and its base URL, once /healthz
    answers 200."""
    port = free_port()
    child = spawn("api", [str(BIN / "offload-api")], env={**env, "API_PORT": str(port)},
                  log_file=log_file, cwd=cwd)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait(child, f"{url}/healthz", "the API to answer")
    return child, url


@contextmanager
def own_database(server_url: str, name: str) -> Iterator[str]:
    """A database `name` of its own on the server of `server_url`, migrated, for services
    started apart from the e2e stack (whose scheduler would act on their rows); dropped
    afterwards."""
    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    migrate.migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _wait(child: Child, url: str, what: str) -> None:
    """Until `url` answers 200; a child that never gets there is stopped before the error."""
    try:
        wait_until(lambda: answers(url), child, BOOT_SECONDS, what)
    except BaseException:
        stop_all([child], timeout=20)
        raise
