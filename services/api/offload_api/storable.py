"""NUL characters, refused wherever they are in a request, together with its other errors.

Postgres text and jsonb cannot hold U+0000 (jsonb refuses the \\u0000 escape too), so a value
carrying one would pass every schema and fail at the INSERT. Lone surrogates never get this far:
orjson refuses them as malformed JSON (a 400 naming the position), and query strings are
decoded with replacement characters. Line breaks are refused by the fields that can end up in a
header (offload_shared.params.SINGLE_LINE); elsewhere they are ordinary text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NUL = "\x00"
MESSAGE = "must not contain NUL characters (U+0000)"
KEY_MESSAGE = "key must not contain NUL characters (U+0000)"


def nul_errors(value: Any) -> dict[Any, Any]:
    """Messages shaped like marshmallow's ({field: [...]}, nested, list items by index) for
    every string holding a NUL, key or value. Iterative: a body can nest 1,024 levels deep."""
    errors: dict[Any, Any] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                _put(errors, path, MESSAGE)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and NUL in key:
                    _put(errors, (*path, key.replace(NUL, "\\u0000")), KEY_MESSAGE)
                else:
                    stack.append(((*path, key), child))
        elif isinstance(item, list | tuple):
            stack.extend(((*path, i), child) for i, child in enumerate(item))
    return errors


def _put(errors: dict[Any, Any], path: tuple[Any, ...], message: str) -> None:
    node = errors
    for key in path[:-1] or ():
        child = node.setdefault(key, {})
        if isinstance(child, list):  # a key's own message, and now errors beneath it too
            child = node[key] = {"_schema": child}
        node = child
    leaf = path[-1] if path else "_schema"
    if isinstance(node.get(leaf), dict):
        node[leaf].setdefault("_schema", []).append(message)
    else:
        node.setdefault(leaf, []).append(message)
