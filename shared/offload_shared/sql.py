"""Named SQL queries kept in `.sql` files (`-- name: query_name` headers), loaded by name.

The files ship inside the packages, so their text is as trusted as a literal in the code: it is
typed LiteralString here, once, and every caller passes it to psycopg without a cast.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString, cast

__all__ = [
    "Queries",
    "load",
]

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_FRAGMENT = re.compile(r"\{\{(\w+)\}\}")


@cache
def load(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    """Return {name: sql} for a package's query file. Each query runs as one statement.

    A query may take in another of the same file, written earlier, as `{{name}}`: a fragment
    several statements share (the conditions of a filter), in parentheses, without its
    comment lines."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, LiteralString] = {}

    def fragment(match: re.Match[str]) -> str:
        if match[1] not in queries:
            raise ValueError(f"{package}/{filename}: {{{{{match[1]}}}}} is not defined above")
        lines = queries[match[1]].splitlines()
        return "(" + "\n".join(line for line in lines if not line.startswith("--")) + ")"

    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{package}/{filename}: query {name!r} is defined twice")
        sql = _FRAGMENT.sub(fragment, body.strip().rstrip(";"))
        queries[name] = cast(LiteralString, sql)
    return queries


def query(
    name: str, package: str = "offload_shared", filename: str = "queries.sql"
) -> LiteralString:
    return load(package, filename)[name]


class Queries:
    """A package's named statements (its queries.sql): `Queries("offload_scheduler")("name")`."""

    def __init__(self, package: str, filename: str = "queries.sql") -> None:
        self.package = package
        self.filename = filename

    def __call__(self, name: str) -> LiteralString:
        return load(self.package, self.filename)[name]
