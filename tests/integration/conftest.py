"""Fixtures of the integration suite: a Redis broker with the worker middleware, a Dramatiq
worker that is always stopped, and the API in-process with the one authorised client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import pytest
from dramatiq import Broker
from flask import Flask
from flask.testing import FlaskClient

from offload_api.app import create_app
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


@pytest.fixture
def make_api(infra) -> Iterator[Callable[..., Flask]]:
    """The API in-process (Flask's app, for its test client), configured like a deployment of
    the test's own (`make_api(OFFLOAD_TASK_MODULES=...)`); each app is closed afterwards.

    Every test client is 127.0.0.1, and the suite sends many keyless requests on purpose: the
    bad-authentication bucket is made large unless a test sizes it (test_rate_limits.py)."""
    apps: list[Flask] = []

    def make(**settings: str) -> Flask:
        settings = {"OFFLOAD_BAD_AUTH_BURST": "100000"} | settings
        app = create_app({"TESTING": True, "OFFLOAD_SETTINGS": infra.settings(**settings)})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["offload"].close()


@pytest.fixture
def app(make_api) -> Flask:
    return make_api()


@pytest.fixture
def client(app, api_key) -> FlaskClient:
    """The one API client: the test tenant's key on every request."""
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return c
