"""Bearer API keys: each authenticated request resolves to one tenant and a set of scopes.

Every view method says what it needs, once, where it is defined: `@requires("read")` (or
`"enqueue"`, `"admin"`), or `@public` for the probes. One app-wide hook checks it before the
view runs: no live key → 401, a key lacking the scope → 403 naming it, a spent rate limit →
429 with Retry-After. A view that declares nothing needs `admin`, so a forgotten declaration
fails closed (and tests/integration/test_scopes.py fails).

The dashboard (ui/) declares its scopes the same way; its requests carry a browser session
instead of a bearer key: a blueprint registers how its grant is found (`use_credentials`), and
the same hook checks the scope and the key's rate limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from offload_api.json_codec import Blueprint
from offload_api.services import services
from offload_shared.apikeys import ApiKey
from offload_shared.errors import Forbidden, TooManyRequests, Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])
SCOPE_ATTRIBUTE = "offload_scope"
PUBLIC = "public"
UNDECLARED = "admin"  # fail closed
RETRY_AFTER = {"description": "whole seconds, at least 1", "schema": {"type": "integer"}}
# flask-smorest's OpenAPI document, /docs (docs.py: the page and Swagger UI's packaged files),
# Flask's static files: no key needed. /metrics (metrics.py) checks a token of its own.
PUBLIC_BLUEPRINTS = frozenset({"api-docs", "docs", "metrics"})
PUBLIC_ENDPOINTS = frozenset({"static", "ui.static"})  # Flask's and the dashboard's files


def requires(scope: str) -> Callable[[F], F]:
    """Declare the scope a view method needs; the OpenAPI document says it too
    (`x-offload-scope`, and the 401, 403 and 429 answers)."""
    limited = {"description": "A rate limit is spent", "headers": {"Retry-After": RETRY_AFTER}}
    doc = Blueprint.doc(
        **{"x-offload-scope": scope},
        responses={
            "401": {"description": "No live API key"},
            "403": {"description": f"The API key lacks the {scope!r} scope"},
            "429": limited,
        },
    )

    def mark(view: F) -> F:
        view = doc(view)
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return mark


def public(view: F) -> F:
    """Declare a view that needs no key (health probes)."""
    view = Blueprint.doc(security=[])(view)
    setattr(view, SCOPE_ATTRIBUTE, PUBLIC)
    return view


def scope_of(app: Flask, endpoint: str, method: str) -> str:
    """The scope a route's method needs, or PUBLIC: what the hook enforces and tests read."""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.partition(".")[0] in PUBLIC_BLUEPRINTS:
        return PUBLIC
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        name = "get" if method == "HEAD" else method.lower()
        view = getattr(view_class, name, view)
    return str(getattr(view, SCOPE_ATTRIBUTE, UNDECLARED))


CREDENTIALS = "offload.credentials"


def init_app(app: Flask) -> None:
    app.before_request(authenticate)


def use_credentials(app: Flask, blueprint: str, grant: Callable[[], ApiKey]) -> None:
    """Requests to `blueprint`'s views authenticate with `grant()` (which raises
    Unauthenticated when there is none) instead of a bearer key."""
    app.extensions.setdefault(CREDENTIALS, {})[blueprint] = grant


def authenticate() -> None:
    """before_request hook: check the key, its scope, then its rate limits."""
    if request.endpoint is None or request.method == "OPTIONS":
        return  # no such route (404) or a preflight: nothing to protect
    scope = scope_of(current_app, request.endpoint, request.method)
    if scope == PUBLIC:
        return
    other = current_app.extensions.get(CREDENTIALS, {}).get(request.blueprint)
    grant = other() if other is not None else _grant()
    if scope not in grant.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope")
    svc = services()
    wait = svc.limiter.take(svc.limits.for_key(grant))
    if wait:
        raise TooManyRequests("too many requests for this API key or its tenant", retry_after=wait)
    g.tenant = grant.tenant


def _grant() -> ApiKey:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        key = ""
    return check_key(key, "missing or invalid API key (send 'Authorization: Bearer <key>')")


def check_key(key: str, refusal: str) -> ApiKey:
    """The grant of a presented key, or Unauthenticated(`refusal`); every failure counts
    against the client's bad-authentication bucket (429 once it is spent)."""
    svc = services()
    bad = [svc.limits.bad_auth(request.remote_addr or "unknown")]
    refused = False

    def may_look_up() -> bool:
        nonlocal refused
        refused = svc.limiter.peek(bad) > 0
        return not refused

    grant = svc.keys.resolve(key.strip(), may_look_up) if key else None
    if grant is not None:
        return grant
    wait = svc.limiter.peek(bad) if refused else svc.limiter.take(bad)
    if wait:
        raise TooManyRequests("too many failed authentications", retry_after=wait)
    raise Unauthenticated(refusal)


def tenant() -> str:
    return g.tenant  # type: ignore[no-any-return]
