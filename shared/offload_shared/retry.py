"""Retry timing: exponential backoff with jitter (±20 % by default), capped (seed 000's policy).
A task type's own numbers are its catalog entry's RetryPolicy."""

from __future__ import annotations

import random

MAX_BACKOFF_SECONDS = 600.0
JITTER = 0.2


def backoff_seconds(
    retry_count: int,
    base_seconds: float,
    *,
    cap_seconds: float = MAX_BACKOFF_SECONDS,
    jitter: float = JITTER,
    rand: random.Random | None = None,
) -> float:
    """Delay before retry number `retry_count + 1`: base * 2**retry_count, ±jitter, at most
    cap."""
    delay = min(base_seconds * 2 ** min(retry_count, 32), cap_seconds)
    spread = (rand or random).uniform(-jitter, jitter)
    return min(delay * (1 + spread), cap_seconds)
