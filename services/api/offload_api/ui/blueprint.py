"""The dashboard's blueprint, and what every one of its templates may use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from offload_api.ui import session

blp = Blueprint(
    "ui", __name__, url_prefix=session.PATH, template_folder="templates", static_folder="static"
)


@blp.context_processor
def _page_context() -> dict[str, Any]:
    """The session (its tenant, scopes and CSRF token) for the layout and every form."""
    found = session.current()
    return {
        "ui_session": found,
        "csrf_field": session.CSRF_FIELD,
        "csrf_token": found.csrf_token if found else "",
        "scopes": found.grant.scopes if found else frozenset(),
        "tenant": found.grant.tenant if found else None,
    }
