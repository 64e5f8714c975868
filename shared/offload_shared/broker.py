"""The Dramatiq RedisBroker factory and the publisher the API uses (no worker code imported)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Middleware

from offload_shared.errors import BrokerUnavailable
from offload_shared.models import Task
from offload_shared.redis_consumer import OffloadRedisBroker

# RedisBroker ignores socket timeout keywords; they only take effect inside the URL.
URL_TIMEOUTS = {"socket_timeout": "5", "socket_connect_timeout": "2", "health_check_interval": "30"}


def redis_url_with_timeouts(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in URL_TIMEOUTS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_broker(
    redis_url: str,
    middleware: Sequence[Middleware] = (),
    *,
    heartbeat_timeout_ms: int = 15_000,
    maintenance_chance: float = 0.1,
) -> RedisBroker:
    """A RedisBroker with exactly the middleware given (Dramatiq's defaults are not added).

    Dramatiq gives a dead worker's messages back after `heartbeat_timeout_ms` without a
    heartbeat, during a maintenance pass that runs on `maintenance_chance` of commands: its
    defaults (60 s, 0.1 %) can strand them for minutes on a quiet queue. A too-early redelivery
    is harmless here: a task already running is skipped by the status middleware.
    """
    return OffloadRedisBroker(
        url=redis_url_with_timeouts(redis_url),
        middleware=list(middleware),
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=int(maintenance_chance * MAINTENANCE_SCALE),
    )


def disconnect(broker: RedisBroker) -> None:
    """Close the broker's Redis connections (RedisBroker.close() leaves them open)."""
    broker.close()
    broker.client.connection_pool.disconnect()


def task_message(task: Task) -> dramatiq.Message[None]:
    """The message for a task: its id is the task id; params stay in Postgres."""
    return dramatiq.Message(
        queue_name=task.queue,
        actor_name=task.task_name,
        args=(),
        kwargs={},
        options={},
        message_id=str(task.id),
        message_timestamp=int(time.time() * 1000),
    )


class Publisher:
    """Publishes task messages; Redis failures surface as BrokerUnavailable."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker

    def publish(self, task: Task) -> None:
        """Enqueue the task's message, delayed until its next_attempt_at if that is ahead."""
        delay_ms = None
        if task.next_attempt_at is not None:
            ahead = (task.next_attempt_at - datetime.now(UTC)).total_seconds()
            delay_ms = int(ahead * 1000) if ahead > 0 else None
        try:
            self.broker.enqueue(task_message(task), delay=delay_ms)
        except (redis.RedisError, BrokerConnectionError) as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc

    def ping(self) -> None:
        try:
            self.broker.client.ping()
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis unavailable ({type(exc).__name__})") from exc

    def close(self) -> None:
        disconnect(self.broker)
