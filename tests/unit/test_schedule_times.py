"""When schedules fire (offload_shared.schedule_times), on fixed clocks: cron and intervals,
DST transitions in the schedule's zone, the grace window and the misfire policies."""

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from offload_shared.schedule_times import Timing, check_cron, check_timezone, plan

GRACE = timedelta(seconds=60)
# 2026's transitions: Europe/Berlin springs forward on 29 March (02:00 -> 03:00) and falls back
# on 25 October (03:00 -> 02:00); America/New_York on 8 March (02:00 -> 03:00) and 1 November
# (02:00 -> 01:00).
TRANSITIONS = {
    "Europe/Berlin": (datetime(2026, 3, 29), datetime(2026, 10, 25)),
    "America/New_York": (datetime(2026, 3, 8), datetime(2026, 11, 1)),
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_days(times, zone: str) -> Counter:
    return Counter(t.astimezone(ZoneInfo(zone)).date() for t in times)


def run_the_clock(timing: Timing, start: datetime, end: datetime, step: timedelta, **kw):
    """What a scheduler whose loop turns every `step` from `start` to `end` fires, as it does
    it: plan at each turn, fire what it says, move next_run_at on."""
    fired = []
    next_run_at = timing.first(start)
    now = start
    while now <= end:
        if next_run_at <= now:
            todo = plan(timing, next_run_at, now, grace=GRACE, misfire=kw.get("misfire", "skip"))
            fired += todo.fire_times
            next_run_at = todo.next_run_at
        now += step
    return fired


# -- cron and intervals --------------------------------------------------------------------------


def test_a_cron_expression_gives_its_times_in_utc_strictly_after_the_start():
    timing = Timing(cron="*/15 9-10 * * MON-FRI")
    times = timing.times_after(utc(2026, 12, 4, 10, 40))  # a Friday
    assert [next(times) for _ in range(3)] == [
        utc(2026, 12, 4, 10, 45), utc(2026, 12, 7, 9, 0), utc(2026, 12, 7, 9, 15),
    ]  # fmt: skip
    assert timing.after(utc(2026, 12, 7, 9, 0)) == utc(2026, 12, 7, 9, 15)


def test_a_cron_expression_is_read_in_its_time_zone():
    assert Timing(cron="0 9 * * *", timezone="Asia/Tokyo").after(utc(2026, 12, 1)) == utc(
        2026, 12, 1, 0, 0
    ) + timedelta(days=1)  # 09:00 JST is 00:00 UTC: strictly after the start
    assert Timing(cron="0 9 * * *", timezone="America/New_York").after(utc(2026, 12, 1)) == utc(
        2026, 12, 1, 14
    )


def test_every_seconds_is_anchored_on_the_previous_fire_time_not_on_a_late_tick():
    timing = Timing(every_seconds=10)
    first = timing.first(utc(2026, 12, 1, 12, 0, 0) + timedelta(microseconds=700_000))
    assert first == utc(2026, 12, 1, 12, 0, 10)  # whole seconds from creation
    late = first + timedelta(seconds=3.9)  # the loop came round late
    todo = plan(timing, first, late, grace=GRACE, misfire="skip")
    assert todo.fire_times == [first]
    assert todo.next_run_at == utc(2026, 12, 1, 12, 0, 20)  # not late + 10


def test_a_scheduler_turning_every_half_second_fires_an_every_second_schedule_once_a_second():
    timing = Timing(every_seconds=1)
    start = utc(2026, 12, 1, 12)
    fired = run_the_clock(timing, start, start + timedelta(seconds=60), timedelta(seconds=0.5))
    assert fired == [start + timedelta(seconds=n) for n in range(1, 61)]


# -- DST -------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 2 * * *", "30 1 * * *", "0 3 * * *"])
def test_a_daily_run_fires_exactly_once_on_every_local_day_across_both_dst_transitions(zone, expr):
    """A fixed clock turning every 20 s through the week around each transition: one run per
    local day, never none (spring forward) and never two (fall back)."""
    timing = Timing(cron=expr, timezone=zone)
    tz = ZoneInfo(zone)
    for day in TRANSITIONS[zone]:
        start = (day - timedelta(days=3)).replace(tzinfo=tz)
        end = (day + timedelta(days=3)).replace(tzinfo=tz)
        fired = run_the_clock(timing, start, end, timedelta(seconds=20))
        days = local_days(fired, zone)
        assert set(days) == {(day + timedelta(days=n)).date() for n in range(-3, 3)}
        assert set(days.values()) == {1}, (expr, zone, day, fired)
        assert fired == sorted(set(fired))


def test_spring_forward_runs_a_gap_time_right_after_the_gap_and_fall_back_on_its_first_pass():
    berlin = ZoneInfo("Europe/Berlin")
    timing = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    spring = timing.after(utc(2026, 3, 28, 12))
    assert spring.astimezone(berlin).isoformat() == "2026-03-29T03:00:00+02:00"  # 02:30 never was
    fall = timing.after(utc(2026, 10, 24, 12))
    assert fall.astimezone(berlin).isoformat() == "2026-10-25T02:30:00+02:00"  # the first 02:30
    assert timing.after(fall).astimezone(berlin).isoformat() == "2026-10-26T02:30:00+01:00"


def test_a_clock_inside_the_repeated_hours_second_pass_does_not_fire_its_first_pass_again():
    """cronsim, started at 02:15 of the second pass (CET), names 02:30 of the first (CEST),
    45 minutes in the past: that time already fired, so the next one is the next day's."""
    second_pass = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))
    assert second_pass.astimezone(UTC) == utc(2026, 10, 25, 1, 15)
    timing = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    assert timing.after(second_pass) == utc(2026, 10, 26, 1, 30)
    assert timing.first(second_pass) == utc(2026, 10, 26, 1, 30)  # a schedule made right then


@pytest.mark.parametrize(
    ("expr", "spring_runs", "fall_runs"), [("*/30 * * * *", 46, 50), ("0 * * * *", 23, 25)]
)
def test_sub_daily_crons_run_in_real_time_across_dst(expr, spring_runs, fall_runs):
    """Every 30 minutes or hourly: by the clock on the wall, which skips an hour in spring and
    repeats one in autumn (the local day has 23 and 25 hours)."""
    berlin = ZoneInfo("Europe/Berlin")
    timing = Timing(cron=expr, timezone="Europe/Berlin")
    for day, runs in zip(TRANSITIONS["Europe/Berlin"], (spring_runs, fall_runs), strict=True):
        start = day.replace(tzinfo=berlin)
        end = (day + timedelta(days=1)).replace(tzinfo=berlin)
        fired = []
        for t in timing.times_after(start - timedelta(microseconds=1)):
            if t >= end:
                break
            fired.append(t)
        assert len(fired) == runs, (expr, day)
        gaps = {b - a for a, b in itertools.pairwise(fired)}
        assert gaps == {timedelta(minutes=30) if "30" in expr else timedelta(hours=1)}


# -- the grace window and the misfire policies -----------------------------------------------


def test_fire_times_within_the_grace_window_each_fire_once():
    """A leader failover of a few seconds: every second it missed fires once, none twice."""
    timing = Timing(every_seconds=1)
    now = utc(2026, 12, 1, 12, 0, 0)
    todo = plan(timing, now - timedelta(seconds=5), now, grace=GRACE, misfire="skip")
    assert todo.fire_times == [now - timedelta(seconds=n) for n in range(5, -1, -1)]
    assert todo.next_run_at == now + timedelta(seconds=1)
    assert todo.missed_from is None


@pytest.mark.parametrize(
    "timing", [Timing(every_seconds=300), Timing(cron="*/5 * * * *")], ids=["every", "cron"]
)
def test_an_hour_of_downtime_skip_fires_nothing_and_run_once_fires_once_for_the_latest(timing):
    now = utc(2026, 12, 1, 12, 2, 0)
    next_run_at = utc(2026, 12, 1, 11, 0, 0)  # the scheduler was down since then
    skipped = plan(timing, next_run_at, now, grace=GRACE, misfire="skip")
    assert skipped.fire_times == []
    assert skipped.next_run_at == utc(2026, 12, 1, 12, 5)
    assert (skipped.missed_from, skipped.missed_until) == (next_run_at, utc(2026, 12, 1, 12, 0))
    once = plan(timing, next_run_at, now, grace=GRACE, misfire="run_once")
    assert once.fire_times == [utc(2026, 12, 1, 12, 0)]
    assert once.next_run_at == utc(2026, 12, 1, 12, 5)


def test_run_once_fires_the_missed_times_once_and_the_ones_within_the_window_as_usual():
    timing = Timing(every_seconds=30)
    now = utc(2026, 12, 1, 12, 0, 0)
    todo = plan(timing, now - timedelta(hours=1), now, grace=GRACE, misfire="run_once")
    # 11:00:00 .. 11:58:30 were missed (one run, for 11:58:30); 11:59:00, 11:59:30 and 12:00:00
    # are within the window.
    assert todo.fire_times == [
        utc(2026, 12, 1, 11, 58, 30), utc(2026, 12, 1, 11, 59), utc(2026, 12, 1, 11, 59, 30),
        utc(2026, 12, 1, 12),
    ]  # fmt: skip


def test_a_year_of_downtime_of_an_every_minute_cron_is_planned_without_walking_the_year():
    import time

    timing = Timing(cron="* * * * *")
    now = utc(2026, 12, 1, 12, 0, 30)
    started = time.perf_counter()
    todo = plan(timing, now - timedelta(days=400), now, grace=GRACE, misfire="run_once")
    assert time.perf_counter() - started < 1.0
    assert todo.fire_times == [utc(2026, 12, 1, 11, 59), utc(2026, 12, 1, 12, 0)]
    assert todo.missed_until == utc(2026, 12, 1, 11, 59) - timedelta(minutes=0)


def test_a_pass_fires_at_most_its_limit_and_leaves_the_rest_due():
    timing = Timing(every_seconds=1)
    now = utc(2026, 12, 1, 12)
    todo = plan(timing, now - timedelta(seconds=30), now, grace=GRACE, misfire="skip", limit=10)
    assert len(todo.fire_times) == 10
    assert todo.next_run_at == now - timedelta(seconds=20)


# -- what a schedule may say -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expanded"),
    [("@daily", "0 0 * * *"), ("@HOURLY", "0 * * * *"), ("  0  2 * *   *", "0 2 * * *"),
     ("0 9 * JAN-MAR MON#1", "0 9 * JAN-MAR MON#1")],
)  # fmt: skip
def test_cron_aliases_and_spacing_are_normalised(expr, expanded):
    assert check_cron(expr) == expanded


@pytest.mark.parametrize(
    ("expr", "says"),
    [("61 * * * *", "minute"), ("* * *", "five fields"), ("0 0 0 * * *", "five fields"),
     ("0 0 30 2 *", "day-of-month"), ("@reboot", "five fields"), ("x y z a b", "minute")],
)  # fmt: skip
def test_bad_cron_expressions_are_refused_saying_why(expr, says):
    with pytest.raises(ValueError, match=says):
        check_cron(expr)


@pytest.mark.parametrize("name", ["Mars/Olympus", "europe/berlin", "../../etc/passwd", "", "CEST"])
def test_only_iana_zone_names_are_accepted(name):
    with pytest.raises(ValueError, match="time zone"):
        check_timezone(name)


def test_a_rule_is_cron_or_every_seconds_within_bounds():
    for bad in ({}, {"cron": "* * * * *", "every_seconds": 5}, {"every_seconds": 0},
                {"every_seconds": 366 * 86_400 + 1}):  # fmt: skip
        with pytest.raises(ValueError, match=r"every_seconds|not both"):
            Timing(**bad)
    assert Timing(cron="@daily") == Timing(cron="@daily")
    assert Timing(cron="@daily") != Timing(cron="@daily", timezone="Europe/Berlin")
