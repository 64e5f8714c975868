"""Rate and concurrency limits per task type and tenant: what they are, and which task has which.

A limit holds per tenant: `email.*` at 10 per second lets each tenant send 10 emails a second.
A task type's default comes from its catalog entry (`TaskSpec.limit`); OFFLOAD_TASK_LIMITS
overrides it, e.g.

    OFFLOAD_TASK_LIMITS="email.*=10/s; reports.*=concurrency:2; analytics.sync_metrics=1/m,burst:5"

Each entry is a task-name pattern (shell-style: `*` matches anything), `=`, and a comma-separated
list of: a rate (`N/s`, `N/m` or `N/h`), `burst:N` (how many may start at once after a quiet
spell; 1 by default: evenly spaced), `concurrency:N` (at most N running at once), or `none`
(no limit, lifting a catalog default). The first entry whose pattern matches a task's name is
its limit, and all tasks matching one pattern share it (one bucket of `email.*` for all emails
of a tenant); a catalog default is the task's own.

They are enforced by the Redis broker as workers claim messages (broker/layout.py says how), so
they hold across every worker process and replica. Redis rather than Postgres: the check sits
in the claim script the workers already run, one round trip, with no row locks on a hot
counter; what Redis loses (a restart without persistence) is a limit reset, never a task.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from offload_shared.broker.layout import Limit

__all__ = ["NO_LIMIT", "Rule", "TaskLimit", "by_queue", "parse", "resolve"]

PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
RATE = re.compile(r"^(\d+(?:\.\d+)?)/([smh])$")
COUNT = re.compile(r"^(burst|concurrency):(\d+)$")


@dataclass(frozen=True)
class TaskLimit:
    """Per tenant: at most `rate_per_second` starts a second (0: no rate limit), `burst` of them
    at once, and at most `concurrency` running at once (0: no concurrency limit)."""

    rate_per_second: float = 0.0
    burst: int = 1
    concurrency: int = 0

    def __post_init__(self) -> None:
        if self.rate_per_second < 0 or not math.isfinite(self.rate_per_second):
            raise ValueError("a rate must be a finite number of tasks per second, at least 0")
        if self.burst < 1:
            raise ValueError("a burst must be at least 1")
        if self.concurrency < 0:
            raise ValueError("a concurrency must be at least 0")

    @property
    def limited(self) -> bool:
        return self.rate_per_second > 0 or self.concurrency > 0


NO_LIMIT = TaskLimit()


@dataclass(frozen=True)
class Rule:
    pattern: str
    limit: TaskLimit


def _limit(spec: str) -> TaskLimit:
    rate, burst, concurrency = 0.0, 1, 0
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValueError("an empty limit (say `none` for no limit)")
    for part in parts:
        if part == "none":
            if len(parts) > 1:
                raise ValueError("`none` stands alone")
            return NO_LIMIT
        if m := RATE.match(part):
            rate = float(m[1]) / PER[m[2]]
        elif m := COUNT.match(part):
            if m[1] == "burst":
                burst = int(m[2])
            else:
                concurrency = int(m[2])
        else:
            raise ValueError(f"{part!r} is not a rate (10/s), burst:N, concurrency:N or none")
    return TaskLimit(rate, burst, concurrency)


def parse(raw: str) -> tuple[Rule, ...]:
    """OFFLOAD_TASK_LIMITS' rules, in order; raises ValueError saying what is wrong."""
    rules = []
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        pattern, sep, spec = entry.partition("=")
        pattern = pattern.strip()
        if not sep or not pattern:
            raise ValueError(f"{entry!r}: expected PATTERN=LIMIT, e.g. email.*=10/s")
        try:
            rules.append(Rule(pattern, _limit(spec)))
        except ValueError as exc:
            raise ValueError(f"{pattern}: {exc}") from None
    return tuple(rules)


def resolve(
    task_name: str, rules: Sequence[Rule], defaults: Mapping[str, TaskLimit | None]
) -> tuple[str, TaskLimit] | None:
    """The (key, limit) of a task: the first matching rule (its pattern is the key), else the
    catalog's default (keyed by the task's name); None if it has no limit."""
    for rule in rules:
        if fnmatch.fnmatchcase(task_name, rule.pattern):
            return (rule.pattern, rule.limit) if rule.limit.limited else None
    default = defaults.get(task_name)
    return (task_name, default) if default is not None and default.limited else None


def by_queue(
    actors: Iterable[tuple[str, str]],
    rules: Sequence[Rule],
    defaults: Mapping[str, TaskLimit | None],
) -> dict[str, list[Limit]]:
    """For (actor name, queue) pairs: queue -> the limits of its limited actors, as the broker's
    claim script takes them."""
    out: dict[str, list[Limit]] = {}
    for actor, queue in actors:
        found = resolve(actor, rules, defaults)
        if found is not None:
            key, limit = found
            out.setdefault(queue, []).append(
                Limit(actor, key, limit.rate_per_second, limit.burst, limit.concurrency)
            )
    return out
