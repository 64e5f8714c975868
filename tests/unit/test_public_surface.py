"""What the services may use of `offload_shared` is explicit: each module's `__all__`. This
reads the services' (and the bench's and dev tools') imports from their source."""

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERS = ("services", "bench", "devtools")


def uses():
    """(file, module, name) for each name a service takes from an offload_shared module."""
    for folder in USERS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            aliases = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "offload_shared"
                ):
                    for alias in node.names:
                        if node.module == "offload_shared":
                            aliases[alias.asname or alias.name] = f"offload_shared.{alias.name}"
                        else:
                            yield path, node.module, alias.name
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in aliases
                ):
                    yield path, aliases[node.value.id], node.attr


def test_services_use_only_what_shared_modules_export():
    outside = sorted(
        f"{path.relative_to(ROOT)}: {module}.{name}"
        for path, module, name in uses()
        if name not in getattr(importlib.import_module(module), "__all__", ())
    )
    assert outside == []


def test_no_service_talks_to_psycopg():
    """Postgres is reached through offload_shared.db (its pool, Queries, read_only_connection,
    row_cursor), whose errors are Offload's."""
    found = set()
    for path in (ROOT / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(n == "psycopg" or n.startswith("psycopg.") for n in names):
                found.add(path)
    assert found == set()
