"""The request id: every API request has one, on every answer and every line logged for it.

A client (or a proxy in front) may send `X-Request-ID`; a sane one (1-128 characters of
`A-Z a-z 0-9 . _ : -`) is kept, anything else is replaced by a fresh id (uuid4 hex), never
echoed. It is answered as `X-Request-ID` on every response (errors included; the front's own
500 reads it from the environ), bound to the request's log lines (offload_shared/logs.py) and
stored on the tasks the request creates (submit.py), so a task's lines in the workers carry it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask, Response, g, request

from offload_shared import logs

HEADER = "X-Request-ID"
ENVIRON_KEY = "offload.request_id"  # for the front (front.py), which answers outside Flask
SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def choose(sent: str | None) -> str:
    """The client's id if it is sane, else a new one."""
    if sent is not None and SANE.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def of_environ(environ: dict[str, Any]) -> str:
    """The id the app gave this request, or one chosen now (the app failed before its hook)."""
    chosen = environ.get(ENVIRON_KEY)
    if chosen is None:
        chosen = environ[ENVIRON_KEY] = choose(environ.get("HTTP_X_REQUEST_ID"))
    return str(chosen)


def current() -> str:
    """This request's id."""
    return str(g.request_id)


def init_app(app: Flask) -> None:
    """Register first: the hooks registered after this one (limits, auth) may refuse the
    request, and their answers and lines need the id."""

    @app.before_request
    def assign() -> None:
        g.request_id = of_environ(request.environ)
        g.request_log_token = logs.bind({"request_id": g.request_id})

    @app.after_request
    def answer(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def release(_exc: BaseException | None) -> None:
        token = g.pop("request_log_token", None)
        if token is not None:
            logs.unbind(token)
