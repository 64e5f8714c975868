"""`offload-api`: serve the API with granian on API_PORT, through the buffering front (front.py).

granian was measured against gunicorn's gthread workers on this API, both with 2 processes
(bench/README.md): more requests per second for less CPU per request, a lower latency tail,
keep-alive connections that stay open while a client's pool idles, and HTTP parsing in Rust
that does not tie up a Python thread while a client sends its headers slowly. On SIGTERM it
stops accepting and finishes the requests in flight.

It runs its RSGI interface, not WSGI: under WSGI granian calls the app as soon as the headers
are in and a slow body then holds a Python thread with no deadline (front.py says what was
measured); the front reads bodies on granian's event loop with a cap and a deadline and runs
the Flask app in OFFLOAD_API_THREADS threads of its own.

Timeouts, set explicitly rather than left to granian's defaults:
- headers: `--http1-header-read-timeout` (OFFLOAD_API_HEADER_TIMEOUT_SECONDS, 10 s; granian's
  default is 30 s, its maximum 60 s). It starts when a connection opens or finishes a request,
  so it also closes keep-alive connections idle that long; a connection trickling its headers
  costs only a socket and its buffer, never a thread.
- body: OFFLOAD_API_BODY_TIMEOUT_SECONDS (20 s), enforced by the front (granian has none).

`--http1-buffer-size` bounds the request line and headers: granian answers 431 (empty body) to
what does not fit. The bound is soft (hyper reads past it a little: at granian's default,
408 KiB, a 420 kB header reached the app; at 64 KiB a 100 kB one did). It is set to 64 KiB, above
the front's own bounds (an 8 KiB target, 16 KiB of headers), so that a request over those gets
the JSON 414 or 431 and only one far larger meets granian's bare answer; each connection reading
its headers holds at most about that much. Bodies are unaffected: they stream through the
buffer to the front.

Logs: granian's own lines (its process and each worker's) go through Python's logging as
`--log-config` sets it up (granian_logging.json: the root handler of offload_shared.logs, in
OFFLOAD_LOG_FORMAT), at OFFLOAD_LOG_LEVEL; wsgi.py configures the rest of each worker. granian's
access log stays off: the app writes one (OFFLOAD_API_ACCESS_LOG, access_log.py) whose lines
carry the request id.
"""

from __future__ import annotations

import os
import sys
from importlib.resources import files

from offload_shared import metrics
from offload_shared.settings import Settings, load_or_exit

# On SIGTERM, requests in flight get this long (keep it below terminationGracePeriodSeconds).
SHUTDOWN_SECONDS = 30
# granian's bounds for --http1-header-read-timeout, in milliseconds.
HEADER_TIMEOUT_RANGE_MS = (1, 60_000)
# granian's read buffer per HTTP/1 connection, which the request line and headers must fit.
HEADER_BUFFER_BYTES = 65_536
# granian's logging (a dictConfig): offload_shared.logs' handler and formatter.
LOG_CONFIG = files("offload_api") / "granian_logging.json"


def header_timeout_ms(settings: Settings) -> int:
    low, high = HEADER_TIMEOUT_RANGE_MS
    return min(high, max(low, round(settings.api_header_timeout_seconds * 1000)))


def argv(settings: Settings) -> list[str]:
    return [
        os.path.join(os.path.dirname(sys.executable), "granian"),
        "--interface", "rsgi",
        "--host", settings.api_host,
        "--port", str(settings.api_port),
        "--workers", str(settings.api_workers),
        "--http", "1",
        "--no-ws",
        "--http1-header-read-timeout", str(header_timeout_ms(settings)),
        "--http1-buffer-size", str(HEADER_BUFFER_BYTES),
        "--respawn-failed-workers",
        "--workers-kill-timeout", str(SHUTDOWN_SECONDS),
        "--log-config", str(LOG_CONFIG),
        "--log-level", settings.log_level,
        "--no-access-log",  # the app writes its own, with the request id (access_log.py)
        "offload_api.wsgi:front",
    ]  # fmt: skip


def main() -> None:
    command = argv(load_or_exit("offload-api"))
    metrics.use_multiprocess("api")  # granian's worker processes count in one directory
    os.execv(command[0], command)  # noqa: S606 - replaces this process with granian
