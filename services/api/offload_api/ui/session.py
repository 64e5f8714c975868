"""The dashboard's browser sessions: server-side rows in Postgres (migration 0011).

Logging in with an API key opens a session of that key (its tenant and scopes); the cookie
carries only a random 256-bit id, and only that id's SHA-256 is stored. Every request looks
the session up with its key (one primary-key join), so logging out, or revoking or expiring the
key, ends it at once. Each session has its own CSRF token, which every form that changes
something sends back (`check_csrf`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import g, request

from offload_api.services import services
from offload_shared.apikeys import ApiKey
from offload_shared.errors import Forbidden, Unauthenticated
from offload_shared.sql import Queries

__all__ = [
    "COOKIE",
    "PATH",
    "UiSession",
    "check_csrf",
    "check_origin",
    "close",
    "current",
    "grant",
    "open_for",
]

query = Queries("offload_api", "ui/queries.sql")
COOKIE = "offload_ui"
PATH = "/ui"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class UiSession:
    grant: ApiKey
    csrf_token: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def open_for(key: ApiKey) -> tuple[str, float]:
    """A new session of `key`: the cookie's value and its lifetime in seconds."""
    svc = services()
    raw = secrets.token_urlsafe(32)
    seconds = svc.settings.ui_session_hours * 3600
    svc.db.fetch_one(
        query("open_session"),
        {
            "id_hash": _digest(raw),
            "api_key_id": key.id,
            "tenant": key.tenant,
            "scopes": sorted(key.scopes),
            "csrf_token": secrets.token_urlsafe(32),
            "seconds": seconds,
        },
    )
    return raw, seconds


def current() -> UiSession | None:
    """This request's live session, looked up once per request."""
    if "ui_session" not in g:
        raw = request.cookies.get(COOKIE, "")
        row = (
            services().db.fetch_one(query("find_session"), {"id_hash": _digest(raw)})
            if raw
            else None
        )
        g.ui_session = (
            None
            if row is None
            else UiSession(
                ApiKey(row["api_key_id"], row["tenant"], frozenset(row["scopes"])),
                row["csrf_token"],
            )
        )
    return g.ui_session  # type: ignore[no-any-return]


def grant() -> ApiKey:
    """auth.py's credentials for the dashboard's views: the session's key."""
    found = current()
    if found is None:
        raise Unauthenticated("log in to the dashboard with an API key")
    return found.grant


def close() -> None:
    """End this request's session (logout); no session is no error."""
    raw = request.cookies.get(COOKIE, "")
    if raw:
        services().db.fetch_one(query("close_session"), {"id_hash": _digest(raw)})
    g.ui_session = None


def check_origin() -> None:
    """A form must come from this site when the browser says where it comes from (it does on
    every POST): the login form too, which has no session yet."""
    origin = request.headers.get("Origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
        raise Forbidden("a dashboard form must be sent from the dashboard's own origin")


def check_csrf() -> None:
    """A form that changes something must carry the session's token, and come from this
    origin (SameSite=Strict already keeps other sites' requests from carrying the cookie)."""
    check_origin()
    found = current()
    sent = request.form.get(CSRF_FIELD, "")
    if found is None or not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page")
