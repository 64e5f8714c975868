"""OFFLOAD_TASK_LIMITS and which task has which limit (task_limits.py)."""

import pytest

from offload_shared.broker.layout import Limit
from offload_shared.errors import ConfigError
from offload_shared.settings import Settings
from offload_shared.task_limits import NO_LIMIT, Rule, TaskLimit, by_queue, parse, resolve


def test_rates_bursts_and_concurrency_are_read():
    rules = parse("email.*=10/s; reports.*=concurrency:2 ;analytics.sync_metrics=6/m,burst:5")
    assert rules == (
        Rule("email.*", TaskLimit(10.0, 1, 0)),
        Rule("reports.*", TaskLimit(0.0, 1, 2)),
        Rule("analytics.sync_metrics", TaskLimit(0.1, 5, 0)),
    )
    assert parse("x.y=3600/h")[0].limit.rate_per_second == pytest.approx(1.0)
    assert parse("") == ()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("email.*", "expected PATTERN=LIMIT"),
        ("=10/s", "expected PATTERN=LIMIT"),
        ("email.*=", "an empty limit"),
        ("email.*=10/d", "is not a rate"),
        ("email.*=fast", "is not a rate"),
        ("email.*=burst:0", "at least 1"),
        ("email.*=none,10/s", "stands alone"),
    ],
)
def test_a_malformed_limit_stops_the_service_naming_the_variable(raw, says):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"OFFLOAD_TASK_LIMITS": raw})
    assert "OFFLOAD_TASK_LIMITS" in str(err.value)
    assert says in str(err.value)


def test_the_first_matching_rule_wins_and_its_pattern_is_the_shared_key():
    rules = parse("email.send_confirmation=none; email.*=10/s; *=concurrency:4")
    defaults = {"reports.generate_pdf": TaskLimit(concurrency=1), "email.send_notification": None}
    assert resolve("email.send_confirmation", rules, defaults) is None  # lifted
    assert resolve("email.send_notification", rules, defaults) == ("email.*", TaskLimit(10.0))
    # A rule overrides the catalog's default; a default is keyed by the task's own name.
    assert resolve("reports.generate_pdf", rules, defaults) == ("*", TaskLimit(concurrency=4))
    assert resolve("reports.generate_pdf", (), defaults) == (
        "reports.generate_pdf",
        TaskLimit(concurrency=1),
    )
    assert resolve("analytics.x", (), defaults) is None
    assert not NO_LIMIT.limited


def test_limits_are_grouped_by_the_queue_of_each_actor():
    rules = parse("email.*=20/s")
    actors = [("email.send_notification", "email"), ("reports.generate_pdf", "reports")]
    assert by_queue(actors, rules, {}) == {
        "email": [Limit("email.send_notification", "email.*", 20.0, 1, 0)]
    }
