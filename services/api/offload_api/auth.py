"""Bearer API keys: each request under /api resolves to exactly one tenant."""

from __future__ import annotations

from flask import g, request
from flask_smorest import abort

from offload_api.services import services


def require_tenant() -> None:
    """before_request hook: 401 unless `Authorization: Bearer <key>` names a live key."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    tenant = services().keys.tenant_for(key.strip()) if scheme.lower() == "bearer" else None
    if not tenant:
        abort(
            401,
            message="missing or invalid API key (send 'Authorization: Bearer <key>')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    g.tenant = tenant


def tenant() -> str:
    return g.tenant  # type: ignore[no-any-return]
