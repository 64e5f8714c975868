"""Versioned SQL migrations (`migrations/NNNN_name.up.sql` + `.down.sql`), applied in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import LiteralString, cast

from offload_shared.db import connect, wrap_exceptions

__all__ = [
    "available",
    "current_version",
    "migrate",
]

_FILE = re.compile(r"^(\d{4})_(\w+)\.(up|down)\.sql$")
LOCK_ID = 0x0FF10AD  # advisory lock: one migrator at a time

BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS offload;
CREATE TABLE IF NOT EXISTS offload.schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: LiteralString  # the package's own files: as trusted as a literal
    down: LiteralString


def available(folder: Traversable | None = None) -> list[Migration]:
    """The package's migrations (or `folder`'s), by version. Two names for one version (two
    branches that each added one) are refused, not one of them silently dropped."""
    folder = folder or resources.files("offload_shared").joinpath("migrations")
    found: dict[int, dict[str, LiteralString]] = {}
    names: dict[int, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        match = _FILE.match(entry.name)
        if match:
            version = int(match[1])
            if names.setdefault(version, match[2]) != match[2]:
                raise RuntimeError(
                    f"migrations {version:04d}_{names[version]} and {version:04d}_{match[2]} "
                    "have the same version: renumber one"
                )
            text = cast(LiteralString, entry.read_text(encoding="utf-8"))
            found.setdefault(version, {})[match[3]] = text
    migrations = []
    for version in sorted(found):
        sides = found[version]
        if set(sides) != {"up", "down"}:
            raise RuntimeError(f"migration {version:04d} needs both an up and a down file")
        migrations.append(Migration(version, names[version], sides["up"], sides["down"]))
    return migrations


def migrate(database_url: str, target: int | None = None) -> list[str]:
    """Move the schema to `target` (default: latest), up or down; return what was done."""
    migrations = available()
    if target is None:
        target = migrations[-1].version if migrations else 0
    done: list[str] = []
    with connect(database_url) as conn, wrap_exceptions():
        conn.execute(BOOKKEEPING)
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            applied = {
                row["version"]
                for row in conn.execute("SELECT version FROM offload.schema_migrations")
            }
            for m in migrations:
                if m.version <= target and m.version not in applied:
                    with conn.transaction():
                        conn.execute(m.up)
                        conn.execute(
                            "INSERT INTO offload.schema_migrations (version, name) VALUES (%s, %s)",
                            (m.version, m.name),
                        )
                    done.append(f"applied {m.version:04d}_{m.name}")
            for m in reversed(migrations):
                if m.version > target and m.version in applied:
                    with conn.transaction():
                        conn.execute(m.down)
                        conn.execute(
                            "DELETE FROM offload.schema_migrations WHERE version = %s",
                            (m.version,),
                        )
                    done.append(f"rolled back {m.version:04d}_{m.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return done


def current_version(database_url: str) -> int:
    """The schema's version (0: never migrated). Read-only: it creates nothing, so it works for
    a role without CREATE rights (`offload migrate --check` in an init container)."""
    with connect(database_url) as conn, wrap_exceptions():
        found = conn.execute("SELECT to_regclass('offload.schema_migrations') AS t").fetchone()
        if found is None or found["t"] is None:
            return 0
        row = conn.execute("SELECT max(version) AS v FROM offload.schema_migrations").fetchone()
        return int(row["v"] or 0) if row else 0
