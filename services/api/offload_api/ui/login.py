"""Logging in to the dashboard with an API key, and out again.

The key is checked through the API's own key store (auth.check_key), so a failed login counts
against the same bad-authentication limit as a bad bearer key (429 once spent). A key without
the `read` scope cannot view anything, so it cannot log in. The session cookie is `Secure`,
`HttpOnly`, `SameSite=Strict`, `Path=/ui` and carries only the session's random id.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from offload_api.auth import check_key, public
from offload_api.ui import session
from offload_api.ui.blueprint import blp
from offload_shared.errors import Unauthenticated

HOME = session.PATH + "/"


def _next_page(raw: str | None) -> str:
    """Where to go after logging in: a dashboard path of this site, never another site."""
    if not raw:
        return HOME
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith(session.PATH + "/"):
        return HOME
    if "\\" in raw or raw.startswith("//"):
        return HOME
    return raw


@blp.get("/login")
@public
def login_form() -> str:
    return render_template("login.html", next=_next_page(request.args.get("next")), error=None)


@blp.post("/login")
@public
def login() -> Response:
    session.check_origin()
    target = _next_page(request.form.get("next"))
    try:
        grant = check_key(request.form.get("api_key", ""), "that is not a live API key")
    except Unauthenticated as exc:
        return make_response(render_template("login.html", next=target, error=str(exc)), 401)
    if "read" not in grant.scopes:
        error = "this API key lacks the 'read' scope the dashboard needs"
        return make_response(render_template("login.html", next=target, error=error), 403)
    raw, seconds = session.open_for(grant)
    response = redirect(target, 303)
    response.set_cookie(
        session.COOKIE, raw, max_age=int(seconds), path=session.PATH,
        secure=True, httponly=True, samesite="Strict",
    )  # fmt: skip
    return response


@blp.post("/logout")
@public
def logout() -> Response:
    """Ends the session (its row is deleted: the cookie opens nothing any more)."""
    if session.current() is not None:
        session.check_csrf()
        session.close()
    response = redirect(session.PATH + "/login", 303)
    response.delete_cookie(session.COOKIE, path=session.PATH, secure=True, httponly=True,
                           samesite="Strict")  # fmt: skip
    return response
