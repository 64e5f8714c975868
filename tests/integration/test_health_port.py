"""The real worker and scheduler processes serve /healthz for Kubernetes' probes.

A worker is healthy once each of its Dramatiq processes has started beating, and stops being
healthy when one of them is stuck (here: paused with SIGSTOP) — which is what makes the
kubelet restart it. The scheduler reports its loop the same way.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until

BIN = Path(sys.executable).parent


def health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


@pytest.fixture
def start(infra, tmp_path):
    children: list[Child] = []

    def run(command: str, **env: str) -> tuple[Child, int]:
        port = free_port()
        child = spawn(
            command,
            [str(BIN / command)],
            env={
                **os.environ,
                "DATABASE_URL": infra.database_url,
                "REDIS_URL": infra.redis_url,
                "OFFLOAD_HEALTH_PORT": str(port),
                **env,
            },
            log_file=tmp_path / f"{command}.log",
        )
        children.append(child)
        return child, port

    yield run
    stop_all(children, timeout=20)


def test_a_worker_is_healthy_while_each_process_beats(start):
    child, port = start(
        "offload-email-worker",
        OFFLOAD_WORKER_PROCESSES="2",
        OFFLOAD_WORKER_HEARTBEAT_SECONDS="0.2",
        OFFLOAD_HEALTH_STALE_SECONDS="2",
    )
    wait_until(lambda: health(port)[0] == 200, child, 60, "/healthz to answer 200")
    beacons = health(port)[1]["beacon_ages_seconds"]
    assert len(beacons) == 2

    stuck = int(next(iter(beacons)))  # a beacon is named after its worker process
    os.kill(stuck, signal.SIGSTOP)
    try:
        wait_until(lambda: health(port)[0] == 503, child, 20, "/healthz to report it stuck")
    finally:
        os.kill(stuck, signal.SIGCONT)
    wait_until(lambda: health(port)[0] == 200, child, 20, "/healthz to recover")


def test_the_scheduler_reports_its_loop(start):
    child, port = start("offload-scheduler", OFFLOAD_HEALTH_STALE_SECONDS="5")
    wait_until(lambda: health(port)[0] == 200, child, 30, "/healthz to answer 200")
    assert list(health(port)[1]["beacon_ages_seconds"]) == ["scheduler"]
