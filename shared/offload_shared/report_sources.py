"""Report sources an operator registers: a name -> a parameterised, read-only SQL query.

OFFLOAD_REPORT_SOURCES names a TOML file, one table per source:

    [signups_by_day]
    description = "Sign-ups per day"
    sql = '''SELECT day, count(*) AS signups FROM app.signups
             WHERE day BETWEEN %(start)s AND %(end)s GROUP BY day ORDER BY day'''
    params = { start = "date", end = "date" }

Values are always bound as query parameters, never spliced into the SQL; `%(tenant)s` is
bound to the calling tenant; a literal `%` is written `%%`. Queries run in a READ ONLY
transaction on OFFLOAD_REPORT_DATABASE_URL, which should name a role that can only SELECT
what reports need: falling back to DATABASE_URL gives them the store's rights.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from offload_shared.errors import ConfigError
from offload_shared.settings import env_name

__all__ = [
    "ReportSource",
    "registry",
]

ENV = env_name("report_sources_file")  # declared in settings.py, read here at each lookup
PARAM_TYPES = ("string", "integer", "number", "boolean", "date")


@dataclass(frozen=True)
class ReportSource:
    name: str
    sql: str
    params: Mapping[str, str]
    description: str = ""


@cache
def _load(path: str) -> Mapping[str, ReportSource]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{ENV}: cannot read the report sources file ({type(exc).__name__})"
        ) from exc
    sources = {}
    for name, table in raw.items():
        if not isinstance(table, dict) or not isinstance(table.get("sql"), str):
            raise ConfigError(f"{ENV}: source {name!r} needs a sql string")
        params = table.get("params", {})
        if not isinstance(params, dict) or any(t not in PARAM_TYPES for t in params.values()):
            raise ConfigError(f"{ENV}: source {name!r} params must map names to {PARAM_TYPES}")
        if "tenant" in params:
            raise ConfigError(f"{ENV}: source {name!r}: 'tenant' is bound by Offload")
        sources[name] = ReportSource(name, table["sql"], params, table.get("description", ""))
    return sources


def registry() -> Mapping[str, ReportSource]:
    """The registered sources (none when OFFLOAD_REPORT_SOURCES is unset)."""
    path = os.environ.get(ENV, "").strip()
    return _load(path) if path else {}
