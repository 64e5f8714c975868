"""When a schedule fires: cron expressions and fixed intervals, pure functions of an explicit
`now` (no clock is read here, so tests run them on a fixed one).

Cron expressions are the classic five fields (minute hour day-of-month month day-of-week, with
names, ranges, steps, `L`, `LW` and `#`, and the `@daily`-style aliases), evaluated in the
schedule's IANA time zone by cronsim with Debian cron's DST rules: a run at a fixed local time
that falls into the spring-forward gap runs once, right after the gap (02:30 -> 03:00), and one
in the hour that repeats at fall-back runs once, on its first occurrence. Expressions whose
minute or hour field starts with `*` (every 5 minutes, hourly) run in real time instead: in the
repeated hour they run again, as the clock says they should. Every instant this module returns
is in UTC and strictly after the one it was asked about, so no sequence of fire times can go
backwards or repeat (cronsim, started inside the repeated hour's second pass, can name the
first pass's time: that is skipped here).

`every_seconds` schedules are anchored on their previous fire time (next = previous + every),
so a late tick never shifts the ones after it.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cronsim import CronSim, CronSimError

__all__ = [
    "ALIASES",
    "MAX_EVERY_SECONDS",
    "Misfire",
    "Plan",
    "Timing",
    "check_cron",
    "check_timezone",
    "plan",
]

Misfire = Literal["skip", "run_once"]
MAX_EVERY_SECONDS = 366 * 86_400  # a year, leap or not
MAX_CRON_CHARS = 200
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = "minute hour day-of-month month day-of-week"


def check_cron(expr: str) -> str:
    """The expression as it is evaluated (aliases expanded); ValueError saying what is wrong."""
    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    if len(text) > MAX_CRON_CHARS:
        raise ValueError(f"at most {MAX_CRON_CHARS} characters")
    if len(text.split()) != 5:
        raise ValueError(f"five fields: {FIELDS} (or one of {', '.join(ALIASES)})")
    try:
        next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise ValueError(str(exc)) from None
    except StopIteration:  # cronsim looks 50 years ahead
        raise ValueError("never fires") from None
    return text


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone of that exact name (e.g. Europe/Berlin, UTC); ValueError otherwise."""
    if name not in _zones():
        raise ValueError("unknown time zone: an IANA name such as UTC or Europe/Berlin")
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True)
class Timing:
    """A schedule's rule: a (checked) cron expression in `timezone`, or every N seconds."""

    cron: str | None = None
    every_seconds: int | None = None
    timezone: str = "UTC"
    _expr: str = field(init=False, repr=False, compare=False, default="")
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """ValueError if the rule is not one a schedule may have."""
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("a schedule has a cron expression or every_seconds, not both")
        if self.every_seconds is not None and not 1 <= self.every_seconds <= MAX_EVERY_SECONDS:
            raise ValueError(f"every_seconds must be 1-{MAX_EVERY_SECONDS}")
        if self.cron is not None:
            object.__setattr__(self, "_expr", check_cron(self.cron))
        object.__setattr__(self, "_zone", check_timezone(self.timezone))

    def first(self, now: datetime) -> datetime:
        """The first fire time of a schedule made (or resumed, or retimed) at `now`:
        `every_seconds` after `now` (in whole seconds), or the cron's next time after it."""
        if self.every_seconds is not None:
            return _whole_second(now) + timedelta(seconds=self.every_seconds)
        return self.after(now)

    def after(self, previous: datetime) -> datetime:
        """The fire time that follows `previous` (a fire time, or any instant), in UTC."""
        return next(self.times_after(previous))

    def times_after(self, start: datetime) -> Iterator[datetime]:
        """Every fire time strictly after `start`, in order, in UTC."""
        start = start.astimezone(UTC)
        if self.every_seconds is not None:
            step = timedelta(seconds=self.every_seconds)
            t = start + step
            while True:
                yield t
                t += step
        last = start
        for t in CronSim(self._expr, start.astimezone(self._zone)):
            utc = t.astimezone(UTC)
            if utc > last:  # never backwards: see the module's doc
                last = utc
                yield utc
        raise ValueError("no fire time within 50 years")  # cronsim's horizon

    def times_from(self, first: datetime) -> Iterator[datetime]:
        """`first` (a fire time), then every fire time after it."""
        yield first.astimezone(UTC)
        yield from self.times_after(first)

    def last_before(self, limit: datetime, not_before: datetime) -> datetime | None:
        """The latest fire time in [`not_before`, `limit`), if there is one (`not_before`
        must be a fire time)."""
        if not_before >= limit:
            return None
        if self.every_seconds is not None:
            step = timedelta(seconds=self.every_seconds)
            return not_before + step * ((limit - not_before - timedelta.resolution) // step)
        # Walk forward from ever longer windows before `limit`: the fire times of the last one
        # are as many as that window holds (a day of every-minute runs), never the whole gap.
        window = timedelta(days=1)
        while True:
            start = max(not_before - timedelta.resolution, limit - window)
            found = None
            for t in self.times_after(start):
                if t >= limit:
                    break
                found = t
            if found is not None or start < not_before:
                return found
            window *= 2


@dataclass(frozen=True)
class Plan:
    """What one firing pass does with a due schedule."""

    fire_times: list[datetime]  # each fired once, in order
    next_run_at: datetime  # where the schedule goes next (after now, unless `limit` cut it)
    missed_from: datetime | None = None  # fire times in [missed_from, missed_until] were
    missed_until: datetime | None = None  # older than the grace window (the misfire policy)


def plan(
    timing: Timing,
    next_run_at: datetime,
    now: datetime,
    *,
    grace: timedelta,
    misfire: Misfire,
    limit: int = 1_000,
) -> Plan:
    """The firings due at `now` of a schedule whose next fire time is `next_run_at`.

    Fire times within `grace` of `now` fire, each once. Older ones were missed (the scheduler
    was down): `skip` fires none of them, `run_once` fires one, for the latest of them. At most
    `limit` times fire in one pass; then `next_run_at` is the first one left, still due.
    """
    cutoff = now - grace
    fire_times: list[datetime] = []
    missed_from = missed_until = None
    t = next_run_at.astimezone(UTC)
    if t < cutoff:
        missed_from, missed_until = t, timing.last_before(cutoff, t)
        if misfire == "run_once" and missed_until is not None:
            fire_times.append(missed_until)
        t = timing.after(missed_until or t)
    times = timing.times_from(t)
    t = next(times)
    while t <= now and len(fire_times) < limit:
        fire_times.append(t)
        t = next(times)
    return Plan(fire_times, t, missed_from, missed_until)


def _whole_second(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(microsecond=0)
