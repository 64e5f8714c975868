"""The dashboard, under /ui: server-rendered pages (Jinja2 templates shipped in this package),
plain HTML forms that POST with a CSRF token, charts as inline SVG drawn on the server, and
one small script of our own (static/ui.js) for the live parts (EventSource). No CDN, no
inline script or style: security_headers.UI_POLICY allows this origin's files only.

It is a plain Flask blueprint, outside flask-smorest's Api, so it stays out of the OpenAPI
document (like docs.py). Its views declare their scopes with auth.py's `requires`, and the
same hook checks them, with the browser session (session.py) as the credential.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import Flask, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from offload_api import auth
from offload_api.ui import session
from offload_api.ui.blueprint import blp
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

__all__ = ["blp", "init_app"]

log = logging.getLogger(__name__)

STATUS_FOR: list[tuple[type[OffloadError], int]] = [
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (TooManyRequests, 429),
    (Unavailable, 503),
]


def init_app(app: Flask) -> None:
    from offload_api.ui import actions, login, pages  # noqa: F401 - their views join blp

    app.register_blueprint(blp)
    auth.use_credentials(app, blp.name, session.grant)


@blp.errorhandler(Unauthenticated)
def _login_first(exc: Unauthenticated) -> Response:
    """No live session: to the login page, which comes back here afterwards."""
    # A form's target is no page to come back to: after the login, the overview.
    target = request.full_path.rstrip("?") if request.method == "GET" else f"{blp.url_prefix}/"
    return redirect(f"{blp.url_prefix}/login?next={quote(target)}", 303)


@blp.errorhandler(OffloadError)
def _error_page(exc: OffloadError) -> Any:
    code = next((c for kind, c in STATUS_FOR if isinstance(exc, kind)), 500)
    message = str(exc) if code != 500 else "internal error"
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if code == 500:
        log.error("unexpected error", exc_info=exc)
    return render_template("error.html", code=code, message=message), code, headers


@blp.errorhandler(HTTPException)
def _http_error_page(exc: HTTPException) -> Any:
    code = exc.code or 500
    return render_template("error.html", code=code, message=exc.description), code
