"""Task params as an operator sees them (the dashboard, `offload status`): secrets masked.

The rule, applied at every depth (nested objects and lists too):
- a value is masked when its key looks secret: the key, lower-cased with '-' as '_', contains
  one of SECRET_WORDS, or one of its '_'-separated words is 'key', 'pin', 'otp' or 'auth'
  ('api_key', 'x-api-key', 'private_key', 'AUTH_TOKEN', 'password'; not 'monkey', 'keys',
  'author');
- a field whose schema (the task catalog's params schema) declares `metadata={"secret": True}`
  is masked whatever its name;
- a URL with credentials in it (`https://user:password@host/`) keeps everything but them.
A masked value is shown as MASK whatever its length or type, so nothing about it leaks.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from marshmallow import Schema, fields

from offload_shared.catalog import CATALOG

__all__ = ["MASK", "looks_secret", "mask", "masked_params"]

MASK = "••••••"
SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "authorization",
    "credential", "cookie", "session", "signature", "private", "bearer", "dsn",
)  # fmt: skip
SECRET_PARTS = frozenset({"key", "pin", "otp", "auth"})
_URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]+@", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    key = name.lower().replace("-", "_")
    return any(word in key for word in SECRET_WORDS) or bool(SECRET_PARTS & set(key.split("_")))


def _secret_fields(schema: Schema | None) -> frozenset[str]:
    if schema is None:
        return frozenset()
    return frozenset(
        field.data_key or name
        for name, field in schema.fields.items()
        if field.metadata.get("secret")
    )


def _nested(schema: Schema | None, name: str) -> Schema | None:
    field = schema.fields.get(name) if schema is not None else None
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        return field.schema
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
        inner = field.inner.schema
        return inner if isinstance(inner, Schema) else None
    return None


def _url(value: str) -> str:
    if not _URL_WITH_CREDENTIALS.match(value):
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}{port}"))


def mask(value: Any, schema: Schema | None) -> Any:
    if isinstance(value, dict):
        secret = _secret_fields(schema)
        return {
            k: MASK if (k in secret or looks_secret(str(k))) else mask(v, _nested(schema, str(k)))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(item, schema) for item in value]
    if isinstance(value, str):
        return _url(value)
    return value


def masked_params(task_name: str, params: Any) -> Any:
    """`params` of a task of `task_name` with its secrets masked (see the module's rule)."""
    spec = CATALOG.get(task_name)
    schema = spec.params_schema() if spec is not None else None
    return mask(params, schema)
