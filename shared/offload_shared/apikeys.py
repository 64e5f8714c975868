"""API keys: random bearer tokens stored only as SHA-256 hashes, each belonging to a tenant."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid

from offload_shared.db import Database
from offload_shared.errors import ConfigError
from offload_shared.sql import query

__all__ = [
    "KeyResolver",
    "create_key",
]

KEY_PREFIX = "ofk_"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is safe and keeps lookups indexed.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: Database, tenant: str) -> str:
    """Create a key for a tenant and return it; only its hash is stored."""
    if not TENANT_PATTERN.match(tenant):
        raise ConfigError("tenant must be 1-63 letters, digits, '.', '_' or '-'")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.connection() as conn:
        conn.execute(
            query("insert_api_key"),
            {"id": uuid.uuid4(), "tenant": tenant, "key_hash": hash_key(key), "prefix": key[:8]},
        )
    return key


class KeyResolver:
    """Maps a presented key to its tenant, caching answers briefly to keep auth off the hot path."""

    def __init__(self, db: Database, ttl_seconds: float = 30.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[str | None, float]] = {}

    def tenant_for(self, key: str) -> str | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and hit[1] > now:
            return hit[0]
        row = self.db.fetch_one(query("tenant_for_key"), {"key_hash": digest})
        tenant = row["tenant"] if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (tenant, now + self.ttl)
        return tenant
