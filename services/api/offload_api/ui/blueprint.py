"""The dashboard's blueprint, and what every one of its templates may use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
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


@blp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    """A timestamp as UTC to the second; an empty cell for none."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@blp.app_template_filter("age")
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


@blp.app_template_filter("tojson_pretty")
def _pretty(value: Any) -> str:
    """JSON for a <pre> (escaped by the template like any text)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
