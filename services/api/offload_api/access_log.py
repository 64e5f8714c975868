"""The access log (OFFLOAD_API_ACCESS_LOG): one line per request the app answers, written by
the app rather than by granian, so that it carries the request's `request_id` like every other
line of the request (granian logs after the answer, outside the request, and knows no id).

Each line names the method, the path (never the query string), the status and the time the
app took, as fields of the line (offload_shared/logs.py).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from offload_shared import logs

log = logging.getLogger("offload_api.access")


def init_app(app: Flask, enabled: bool) -> None:
    if not enabled:
        return

    @app.before_request
    def start() -> None:
        g.access_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("access_started")
        took_ms = (time.perf_counter() - started) * 1000 if started is not None else None
        fields = {
            **(logs.current_fields() or {}),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": None if took_ms is None else round(took_ms, 3),
        }
        log.info(
            "%s %s %d", request.method, request.path, response.status_code,
            extra={logs.EXTRA: fields},
        )  # fmt: skip
        return response
