"""Fixtures for running real actors in-process: a Redis broker with the worker middleware and a
Dramatiq worker that is always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import pytest
from dramatiq import Broker

from offload_shared.broker import disconnect, make_broker
from offload_shared.worker import worker_middleware


@pytest.fixture
def redis_broker(infra, redis_client) -> Iterator[Broker]:
    """The production broker and middleware on the test Redis, with quick retries."""
    settings = infra.settings(OFFLOAD_RETRY_BACKOFF_SECONDS="0.05")
    broker = make_broker(settings.redis_url, worker_middleware(settings))
    yield broker
    disconnect(broker)


@pytest.fixture
def run_worker() -> Iterator[Callable[[Broker], dramatiq.Worker]]:
    workers: list[dramatiq.Worker] = []

    def start(broker: Broker) -> dramatiq.Worker:
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
