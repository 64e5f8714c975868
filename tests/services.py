"""Offload's services as real processes, started the one way the e2e stack and the fault suite
share: each in its own process group with its own log, ready once its health endpoint answers
200, as Kubernetes' probes see it (a worker's or the scheduler's /healthz on a port of its own,
OFFLOAD_HEALTH_PORT; the API's /healthz), never by reading its log."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import requests

from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until

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


def _wait(child: Child, url: str, what: str) -> None:
    """Until `url` answers 200; a child that never gets there is stopped before the error."""
    try:
        wait_until(lambda: answers(url), child, BOOT_SECONDS, what)
    except BaseException:
        stop_all([child], timeout=20)
        raise
