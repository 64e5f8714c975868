import dataclasses
import random

import pytest
from marshmallow import Schema

from offload_analytics_worker.http_fetch import _status_error
from offload_shared.catalog import RetryPolicy, TaskSpec, register
from offload_shared.errors import ConfigError, PermanentTaskError, RetryLater
from offload_shared.retry import MAX_BACKOFF_SECONDS, backoff_seconds


class AnyParams(Schema):
    pass


def test_backoff_doubles_within_twenty_percent():
    rng = random.Random(7)
    for retry_count in range(6):
        expected = 5 * 2**retry_count
        for _ in range(50):
            delay = backoff_seconds(retry_count, 5, rand=rng)
            assert expected * 0.8 <= delay <= expected * 1.2


def test_backoff_is_capped_even_with_jitter():
    rng = random.Random(1)
    assert all(backoff_seconds(40, 5, rand=rng) <= MAX_BACKOFF_SECONDS for _ in range(100))


def test_jitter_spreads_delays():
    rng = random.Random(3)
    assert len({round(backoff_seconds(2, 5, rand=rng), 6) for _ in range(20)}) > 10


def test_a_policy_takes_retry_laters_own_delay_within_its_cap():
    policy = RetryPolicy(cap_seconds=60)
    assert policy.delay(RetryLater("429", delay_seconds=12), 0, 5) == 12
    assert policy.delay(RetryLater("429", delay_seconds=3600), 0, 5) == 60  # capped


def test_a_policy_backs_off_from_its_own_base_with_its_own_jitter():
    policy = RetryPolicy(base_seconds=2, jitter=0)
    assert [policy.delay(RuntimeError(), n, 5) for n in range(4)] == [2, 4, 8, 16]
    assert RetryPolicy(jitter=0).delay(RetryLater("busy"), 1, 5) == 10  # the default base


def test_a_policy_names_the_errors_retrying_cannot_fix():
    policy = RetryPolicy(permanent=(ValueError,))
    assert policy.is_permanent(ValueError("bad data"))
    assert policy.is_permanent(PermanentTaskError("554"))  # always
    assert not policy.is_permanent(TimeoutError())
    assert not RetryPolicy().is_permanent(ValueError())


def test_register_refuses_a_policy_out_of_bounds():
    spec = TaskSpec("tests.policy", "tests", "tests", AnyParams, 5, 3, 1000, "policy check")
    for bad in (RetryPolicy(base_seconds=0), RetryPolicy(cap_seconds=0), RetryPolicy(jitter=1)):
        with pytest.raises(ConfigError, match="retry"):
            register(dataclasses.replace(spec, retry=bad))


def test_a_source_asking_to_come_back_later_is_retried_after_its_retry_after():
    error = _status_error(429, "30")
    assert isinstance(error, RetryLater)
    assert error.delay_seconds == 30
    assert _status_error(503, "Wed, 21 Oct 2026 07:28:00 GMT").delay_seconds is None  # backoff
