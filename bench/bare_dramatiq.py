"""Bare Dramatiq, the yardstick: its RedisBroker, default middleware, a no-op actor.

    dramatiq bench.bare_dramatiq -p 2 -t 8 -Q benchbare     # its worker, as engine.py starts it

The actor records each job in one pipelined round trip (RPUSH "t_enq:t_done" + INCR), the
same way the peer harness in ../shared/bench-peers measured Dramatiq, Celery and RQ: Offload
records every task in Postgres instead, so a job here has to leave some trace too.
BARE_DRAMATIQ_REDIS_URL names the Redis database (engine.py gives it one of its own).
"""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

QUEUE = "benchbare"
DONE, LATENCIES = "benchbare:done", "benchbare:lat"
URL = os.environ.get("BARE_DRAMATIQ_REDIS_URL", "redis://127.0.0.1:6379/12")

broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)
_recorder = redis.Redis.from_url(URL)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def noop(t_enq: int) -> None:
    pipe = _recorder.pipeline(transaction=False)
    pipe.rpush(LATENCIES, f"{t_enq}:{time.time_ns()}")
    pipe.incr(DONE)
    pipe.execute()


def open_loop(rate: float, seconds: float) -> int:
    """Send no-op jobs at `rate` per second for `seconds`; each carries its due time (ns)."""
    start = time.monotonic()
    start_ns = time.time_ns()
    i = 0
    while (due := start + i / rate) < start + seconds:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        noop.send(start_ns + int((due - start) * 1e9))
        i += 1
    return i


if __name__ == "__main__":  # python -m bench.bare_dramatiq RATE SECONDS: the open-loop sender
    import sys

    print(open_loop(float(sys.argv[1]), float(sys.argv[2])))
