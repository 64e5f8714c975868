"""One JSON shape for every error: {"code", "status", "message"?, "errors"?} (flask-smorest's).

HTTP errors (401, 404, 413, 422, ...) already get it from flask-smorest; this maps Offload's own
error tree onto status codes and renders it through the same handler.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import default_exceptions

from offload_shared.errors import (
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
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def init_app(app: Flask, api: Api) -> None:
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
        return api.handle_http_exception(http)

    app.register_error_handler(OffloadError, handle)
