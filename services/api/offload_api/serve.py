"""`offload-api`: serve the API with granian (its WSGI interface) on API_PORT.

granian was measured against gunicorn's gthread workers on this API, both with 2 processes
(bench/README.md): more requests per second for less CPU per request, a lower latency tail,
keep-alive connections that stay open while a client's pool idles, and HTTP parsing in Rust
that does not tie up a Python thread while a client sends slowly. On SIGTERM it stops
accepting and finishes the requests in flight.
"""

from __future__ import annotations

import os
import sys

from offload_shared.settings import Settings, load_or_exit

# On SIGTERM, requests in flight get this long (keep it below terminationGracePeriodSeconds).
SHUTDOWN_SECONDS = 30


def argv(settings: Settings) -> list[str]:
    return [
        os.path.join(os.path.dirname(sys.executable), "granian"),
        "--interface", "wsgi",
        "--host", settings.api_host,
        "--port", str(settings.api_port),
        "--workers", str(settings.api_workers),
        "--blocking-threads", str(settings.api_threads),
        "--http", "1",
        "--no-ws",
        "--respawn-failed-workers",
        "--workers-kill-timeout", str(SHUTDOWN_SECONDS),
        "--access-log" if settings.api_access_log else "--no-access-log",
        "offload_api.wsgi:app",
    ]  # fmt: skip


def main() -> None:
    command = argv(load_or_exit("offload-api"))
    os.execv(command[0], command)  # noqa: S606 - replaces this process with granian
