import random

from offload_shared.retry import MAX_BACKOFF_SECONDS, backoff_seconds


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
