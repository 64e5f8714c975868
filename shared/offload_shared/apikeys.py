"""API keys: random bearer tokens stored only as SHA-256 hashes, each belonging to a tenant and
allowed what its scopes say, until it expires or is revoked.

A key is `ofk_` + 43 URL-safe characters (256 random bits). Rotation keeps the key's id and
row: the new secret replaces the stored hash and the old one stays valid for a grace period,
so a deployment can switch secrets without downtime.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from offload_shared.db import Database
from offload_shared.errors import ConfigError, NotFound, StoreError
from offload_shared.sql import query

__all__ = [
    "DEFAULT_SCOPES",
    "SCOPES",
    "ApiKey",
    "Created",
    "KeyInfo",
    "KeyResolver",
    "create",
    "create_key",
    "list_keys",
    "parse_duration",
    "parse_scopes",
    "revoke_key",
    "rotate_key",
]

log = logging.getLogger(__name__)

KEY_PREFIX = "ofk_"
KEY_FORMAT = re.compile(r"^ofk_[A-Za-z0-9_-]{43}$")
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# read: get, list, count, history, artifacts, snapshots; enqueue: create tasks and events,
# cancel and retry the tenant's tasks; admin: keys, schedules and operator actions.
SCOPES = ("read", "enqueue", "admin")
DEFAULT_SCOPES = ("read", "enqueue")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is safe and keeps lookups indexed.
    return hashlib.sha256(key.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """`90d`, `24h`, `30m`, `45s`, `2w`: the CLI's --expires-in and --grace."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration like 90d, 24h, 30m or 45s")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes from repeated and/or comma-separated values, in SCOPES order."""
    named = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(named - set(SCOPES))
    if unknown:
        raise ConfigError(f"unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    if not named:
        raise ConfigError("a key needs at least one scope")
    return tuple(s for s in SCOPES if s in named)


def _new_secret() -> tuple[str, str, str]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key), key[:8]


@dataclass(frozen=True)
class Created:
    id: uuid.UUID
    key: str
    created_at: datetime
    expires_at: datetime | None


def create_key(
    db: Database,
    tenant: str,
    *,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    name: str = "",
    expires_in: timedelta | None = None,
) -> str:
    """Create a key for a tenant and return it; only its hash is stored."""
    return create(db, tenant, scopes=scopes, name=name, expires_in=expires_in).key


def create(
    db: Database,
    tenant: str,
    *,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    name: str = "",
    expires_in: timedelta | None = None,
) -> Created:
    if not TENANT_PATTERN.match(tenant):
        raise ConfigError("tenant must be 1-63 letters, digits, '.', '_' or '-'")
    if len(name) > 100:
        raise ConfigError("a key's name is at most 100 characters")
    chosen = parse_scopes(scopes)
    key, digest, prefix = _new_secret()
    key_id = uuid.uuid4()
    values = dict(id=key_id, tenant=tenant, key_hash=digest, prefix=prefix, name=name,
                  scopes=list(chosen), expires_in=expires_in)  # fmt: skip
    with db.connection() as conn:
        row = conn.execute(query("insert_api_key"), values).fetchone()
    assert row is not None
    return Created(key_id, key, row["created_at"], row["expires_at"])


@dataclass(frozen=True)
class KeyInfo:
    """One key as `offload api-key list` shows it (never its secret)."""

    id: uuid.UUID
    tenant: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    state: str  # active, rotating (its previous secret still valid), expired, revoked

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KeyInfo:
        now = row["now"]
        if row["revoked_at"] is not None:
            state = "revoked"
        elif row["expires_at"] is not None and row["expires_at"] <= now:
            state = "expired"
        elif row["previous_valid_until"] is not None and row["previous_valid_until"] > now:
            state = "rotating"
        else:
            state = "active"
        return cls(
            row["id"], row["tenant"], row["name"], row["prefix"], tuple(row["scopes"]),
            row["created_at"], row["expires_at"], row["last_used_at"], state,
        )  # fmt: skip


def list_keys(db: Database, tenant: str | None = None) -> list[KeyInfo]:
    return [KeyInfo.from_row(r) for r in db.fetch_all(query("list_api_keys"), {"tenant": tenant})]


def revoke_key(db: Database, key_id: uuid.UUID) -> str:
    """Revoke both secrets of a key; returns its tenant. API processes stop accepting it within
    their cache's lifetime (OFFLOAD_API_KEY_CACHE_SECONDS)."""
    row = db.fetch_one(query("revoke_api_key"), {"id": key_id})
    if row is None:
        raise NotFound(f"no API key {key_id}")
    return str(row["tenant"])


def rotate_key(db: Database, key_id: uuid.UUID, grace: timedelta) -> tuple[str, datetime]:
    """Give a live key a new secret; the old one stays valid for `grace`. Returns the new
    secret and when the old one stops working."""
    key, digest, prefix = _new_secret()
    row = db.fetch_one(
        query("rotate_api_key"),
        {"id": key_id, "key_hash": digest, "prefix": prefix, "grace": grace},
    )
    if row is None:
        raise NotFound(f"no live API key {key_id} (unknown, revoked or expired)")
    return key, row["previous_valid_until"]


@dataclass(frozen=True)
class ApiKey:
    """What a request's key allows: its tenant and scopes."""

    id: uuid.UUID
    tenant: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class _Cached:
    key: ApiKey
    until: float  # on the resolver's monotonic clock


class KeyResolver:
    """Maps a presented key to what it allows, keeping authentication off Postgres's hot path.

    - A string that is not even shaped like a key is refused without a lookup.
    - A live key's answer is cached for `ttl_seconds` (never past its expiry or grace end):
      a revocation takes effect within that bound.
    - A key found unknown (or revoked, expired, past its grace) is remembered in a bounded LRU:
      keys are random, so such a key can never become valid; repeats cost no lookup.
    - Uses are noted in memory; their last-used times are written in one statement at most
      every `touch_seconds`, not once per request.
    """

    def __init__(
        self,
        db: Database,
        ttl_seconds: float = 10.0,
        *,
        touch_seconds: float = 60.0,
        bad_keys_kept: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.touch_seconds = touch_seconds
        self.bad_keys_kept = bad_keys_kept
        self.clock = clock
        self.lookups = 0  # Postgres lookups made: what the caches save is measurable
        self._cache: dict[str, _Cached] = {}
        self._bad: OrderedDict[str, None] = OrderedDict()
        self._used: dict[uuid.UUID, datetime] = {}
        self._flushed_at = clock()
        self._lock = threading.Lock()

    def resolve(self, key: str, may_look_up: Callable[[], bool] = lambda: True) -> ApiKey | None:
        """The key's grant, or None. `may_look_up` is asked before a Postgres lookup (the API's
        throttle of clients that keep sending bad keys); if it says no, the answer is None and
        nothing is remembered."""
        if not KEY_FORMAT.match(key):
            return None
        digest = hash_key(key)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit.until > now:
                due = self._note_use(hit.key, now)
            elif digest in self._bad:
                self._bad.move_to_end(digest)
                return None
            else:
                hit = None
        if hit is not None:
            self._write(due)
            return hit.key
        if not may_look_up():
            return None
        self.lookups += 1
        row = self.db.fetch_one(query("key_for_hash"), {"key_hash": digest})
        with self._lock:
            if row is None:
                self._cache.pop(digest, None)
                self._bad[digest] = None
                if len(self._bad) > self.bad_keys_kept:
                    self._bad.popitem(last=False)
                return None
            grant = ApiKey(row["id"], row["tenant"], frozenset(row["scopes"]))
            until = now + self.ttl
            if row["valid_until"] is not None:
                left = (row["valid_until"] - datetime.now(UTC)).total_seconds()
                until = min(until, now + left)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = _Cached(grant, until)
            due = self._note_use(grant, now)
        self._write(due)
        return grant

    def _note_use(self, grant: ApiKey, now: float) -> dict[uuid.UUID, datetime] | None:
        """Called with the lock held: the uses to write (by the caller, after releasing the
        lock) once `touch_seconds` have passed since the last write, else None."""
        self._used[grant.id] = datetime.now(UTC)
        if now - self._flushed_at < self.touch_seconds:
            return None
        self._flushed_at = now
        used, self._used = self._used, {}
        return used

    def flush(self) -> None:
        """Write the noted last-used times now (at shutdown, and in tests)."""
        with self._lock:
            used, self._used = self._used, {}
            self._flushed_at = self.clock()
        self._write(used)

    def _write(self, used: dict[uuid.UUID, datetime] | None) -> None:
        if not used:
            return
        try:
            with self.db.connection() as conn:
                conn.execute(
                    query("touch_api_keys"), {"ids": list(used), "ats": list(used.values())}
                )
        except StoreError as exc:  # a last-used time is a hint: never fail a request for it
            log.warning("last-used times of %d API key(s) not written: %s", len(used), exc)
