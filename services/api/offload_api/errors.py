"""One JSON shape for every error: {"code", "status", "message"?, "errors"?} (flask-smorest's).

HTTP errors (400, 401, 404, 405, 413, 415, 422, ...) get it from flask-smorest's handler, which
drops the headers werkzeug's exception carries: here they are kept (405's `Allow`), and an error
raised without a message gets werkzeug's description as one. Offload's own error tree is mapped
onto status codes and rendered through the same handler. What granian answers itself, before
the app (414, 431, a malformed request line or header), has an empty body: README, "Errors".
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, default_exceptions

from offload_shared.errors import (
    AtCapacity,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    OffloadError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

# The bases of the error tree (offload_shared/errors.py); anything else is a 500.
STATUS_FOR: list[tuple[type[OffloadError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (TooManyRequests, 429),
    (Unavailable, 503),
]


def headers_for(exc: OffloadError) -> dict[str, str]:
    """The headers an error's status needs: how to authenticate, when to come back."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, (TooManyRequests, AtCapacity)):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def init_app(app: Flask, api: Api) -> None:
    def handle_http(exc: HTTPException) -> Any:
        payload, code, headers = api.handle_http_exception(exc)
        if "message" not in payload and exc.description:
            payload["message"] = exc.description
        own = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return payload, code, own | dict(headers or {})

    app.register_error_handler(HTTPException, handle_http)

    def handle(exc: OffloadError) -> Any:
        code = next((c for kind, c in STATUS_FOR if isinstance(exc, kind)), 500)
        if code == 500:
            log.error("unexpected error", exc_info=exc)
            message = "internal error"
        else:
            if code == 503:
                log.warning("%s", exc)
            message = str(exc)
        http = default_exceptions[code]()
        http.data = {"message": message, "headers": headers_for(exc)}  # type: ignore[attr-defined]
        return handle_http(http)

    app.register_error_handler(OffloadError, handle)
