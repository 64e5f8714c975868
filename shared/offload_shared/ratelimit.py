"""Token buckets in Redis: the API's per-key, per-tenant and bad-authentication limits.

One Lua script checks (and, when all allow it, takes from) several buckets at once on Redis's
own clock, so API processes agree without coordinating and a request is never charged to one
bucket while another refuses it. Each bucket is a small hash that expires once it would be
full again, so idle keys and clients cost no memory.

Redis being away must not stop the API taking tasks (they wait in the outbox): the limiter
then fails open, warns at most once a minute, and leaves Redis alone for a few seconds rather
than waiting on a connect timeout per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

__all__ = [
    "Bucket",
    "RateLimiter",
]

log = logging.getLogger(__name__)

NAMESPACE = "offload:ratelimit"
WARN_EVERY_SECONDS = 60.0
RETRY_REDIS_AFTER_SECONDS = 5.0

# KEYS: the buckets; ARGV: cost (0: only look), then rate per second and burst per bucket.
# Returns 0 when allowed (and taken), else the milliseconds until it would be.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local need = math.max(cost, 1)
local wait = 0
local level = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i]) / 1000
  local burst = tonumber(ARGV[2 * i + 1])
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < need then
    wait = math.max(wait, math.ceil((need - tokens) / rate))
  end
  level[i] = tokens
end
if wait > 0 or cost == 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i]) / 1000
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', level[i] - cost, 'at', now)
  redis.call('PEXPIRE', key, math.ceil(burst / rate))
end
return 0
"""


@dataclass(frozen=True)
class Bucket:
    """A bucket's Redis key and its refill rate (tokens per second) and size."""

    name: str
    rate: float
    burst: int

    def key(self) -> str:
        return f"{NAMESPACE}:{self.name}"


class RateLimiter:
    """Token buckets on a Redis client the caller already has (the API's broker's)."""

    def __init__(self, client: redis.Redis, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._script = client.register_script(_SCRIPT)
        self._skip_until = 0.0
        self._warned_at = -math.inf
        self._lock = threading.Lock()

    def take(self, buckets: Sequence[Bucket]) -> float:
        """Take one token from each bucket if all have one: 0.0; else the seconds to wait
        (nothing taken). Fails open (0.0) while Redis is unreachable."""
        return self._run(buckets, 1)

    def peek(self, buckets: Sequence[Bucket]) -> float:
        """Like `take` but takes nothing: 0.0 if a token is there."""
        return self._run(buckets, 0)

    def _run(self, buckets: Sequence[Bucket], cost: int) -> float:
        if self.clock() < self._skip_until:
            return 0.0
        args: list[float | int] = [cost]
        for bucket in buckets:
            args += [bucket.rate, bucket.burst]
        try:
            wait_ms = self._script(keys=[b.key() for b in buckets], args=args)
        except redis.RedisError as exc:
            self._fail_open(exc)
            return 0.0
        return int(wait_ms) / 1000

    def _fail_open(self, exc: redis.RedisError) -> None:
        now = self.clock()
        with self._lock:
            self._skip_until = now + RETRY_REDIS_AFTER_SECONDS
            warn = now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            log.warning("rate limits not enforced: Redis unavailable (%s)", type(exc).__name__)
