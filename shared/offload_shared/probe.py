"""The health port of the workers and the scheduler: `GET /healthz` for Kubernetes probes, and
`GET /metrics` for Prometheus (metrics.py: the service's counts and the Postgres gauges).

Each process that must keep going (every Dramatiq worker process, the scheduler's loop) touches
a beacon file on each turn of its loop, whether or not Postgres answered that turn. /healthz
answers 200 while the expected number of beacons is fresh, 503 before they have all appeared
(still booting) or once one goes stale (a process is stuck). Files rather than memory, because
Dramatiq's worker processes are children of the process that serves the port.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from offload_shared.metrics import CONTENT_TYPE

__all__ = [
    "start",
]

log = logging.getLogger(__name__)

DIR_ENV = "_OFFLOAD_PROBE_DIR"  # set for a worker's processes by run_worker; not configuration


class Beacons:
    def __init__(self, directory: Path, *, expected: int, stale_after: float) -> None:
        self.directory = directory
        self.expected = expected
        self.stale_after = stale_after

    @classmethod
    def fresh_dir(cls, *, expected: int, stale_after: float) -> Beacons:
        """Beacons in a new, empty directory of this process's own under the temp dir."""
        owner = os.getpid()
        directory = Path(tempfile.gettempdir()) / f"offload-probe-{owner}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

        @atexit.register
        def remove() -> None:
            if os.getpid() == owner:  # forked worker processes inherit the hook
                shutil.rmtree(directory, ignore_errors=True)

        return cls(directory, expected=expected, stale_after=stale_after)

    def touch(self, name: str) -> None:
        _touch(self.directory / name)

    def report(self) -> tuple[bool, dict[str, Any]]:
        now = time.time()
        ages = {p.name: round(now - p.stat().st_mtime, 1) for p in self.directory.iterdir()}
        fresh = sum(age <= self.stale_after for age in ages.values())
        healthy = fresh >= self.expected and fresh == len(ages)
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "expected": self.expected,
            "stale_after_seconds": self.stale_after,
            "beacon_ages_seconds": ages,
        }


def beacon_from_env() -> Callable[[], None] | None:
    """For a worker process: touch this process's beacon, if its service serves a health port."""
    directory = os.environ.get(DIR_ENV)
    if not directory:
        return None

    def touch() -> None:  # the pid is read at each touch: the middleware may be made before a fork
        _touch(Path(directory) / str(os.getpid()))

    return touch


def _touch(beacon: Path) -> None:
    try:
        beacon.touch()
    except OSError as exc:  # the probe then reports this process stale, which is the truth
        log.warning("health beacon not written: %s", exc)


def start(
    port: int, *, expected: int, stale_after: float, metrics: Callable[[], bytes] | None = None
) -> Beacons:
    """Fresh beacons, and /healthz on `port` reporting them until the process exits (and
    /metrics, the text `metrics()` returns)."""
    beacons = Beacons.fresh_dir(expected=expected, stale_after=stale_after)
    serve(port, beacons, metrics)
    return beacons


def serve(
    port: int,
    beacons: Beacons,
    metrics: Callable[[], bytes] | None = None,
    host: str = "0.0.0.0",  # noqa: S104
) -> ThreadingHTTPServer:
    """Serve /healthz (and /metrics) on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics" and metrics is not None:
                self._write(200, CONTENT_TYPE, metrics())
            elif path == "/healthz":
                healthy, body = beacons.report()
                self._send(200 if healthy else 503, body)
            else:
                self._send(404, {"status": "not found"})

        def _send(self, code: int, body: dict[str, Any]) -> None:
            self._write(code, "application/json", json.dumps(body).encode())

        def _write(self, code: int, content_type: str, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a probe every few seconds is noise, not news

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="offload-probe", daemon=True).start()
    log.info(
        "health port %d: GET /healthz%s",
        server.server_address[1],
        ", /metrics" if metrics is not None else "",
    )
    return server
