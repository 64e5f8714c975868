"""GET /metrics on the API and on the workers' and the scheduler's health ports, scraped after a
known workload and checked against Postgres. The API runs two granian workers and the email
worker two Dramatiq processes, so a figure that only one process saw would come out short.
The system has a database and a Redis database of its own: the counters are every tenant's,
and its scheduler would otherwise requeue other tests' orphaned tasks into its workers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import requests
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from offload_dev.procs import Child, free_port, stop_all, wait_until
from offload_shared import apikeys, operations
from offload_shared.db import Database
from tests import services
from tests.conftest import wait_for
from tests.smtp_servers import Mailbox

TOKEN = "metrics-" + uuid.uuid4().hex
REDIS_DB = 5  # a system of its own beside the e2e stack, which would take its tasks
OK, REFUSED, LATER, CANCELLED = 10, 3, 4, 2


@dataclass
class System:
    api: str
    email_metrics: str
    scheduler_metrics: str
    db: Database


@pytest.fixture(scope="module")
def mailbox() -> Mailbox:
    return Mailbox(
        rcpt={f"refused{i}@example.com": ["550 no such user"] for i in range(REFUSED)}
        | {f"later{i}@example.com": ["451 try again later"] for i in range(LATER)}
    )


@pytest.fixture(scope="module")
def database(infra) -> Iterator[str]:
    with services.own_database(infra.database_url, f"offload_metrics_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="module")
def system(infra, database, mailbox, tmp_path_factory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("metrics-logs")
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    redis_url = infra.other_redis_db(REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()
    db = Database(database, max_size=2)
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "OFFLOAD_API_HOST": "127.0.0.1",
        "OFFLOAD_API_WORKERS": "2",
        "OFFLOAD_METRICS_TOKEN": TOKEN,
        "OFFLOAD_SMTP_HOST": "127.0.0.1",
        "OFFLOAD_SMTP_PORT": str(smtp.port),
        "OFFLOAD_RETRY_BACKOFF_SECONDS": "0.1",
        "OFFLOAD_WORKER_PROCESSES": "2",
        "OFFLOAD_WORKER_THREADS": "2",
    }
    children: list[Child] = []
    try:
        email, email_health = services.start(
            "email", [str(services.BIN / "offload-email-worker")], env, logs / "email.log"
        )
        children.append(email)
        scheduler, scheduler_health = services.start(
            "scheduler", [str(services.BIN / "offload-scheduler")], env, logs / "scheduler.log"
        )
        children.append(scheduler)
        api, url = services.start_api(env, logs / "api.log")
        children.append(api)
        wait_until(lambda: services.answers(f"{url}/readyz"), api, 60, "the API to be ready")
        yield System(
            url,
            email_health.replace("/healthz", "/metrics"),
            scheduler_health.replace("/healthz", "/metrics"),
            db,
        )
    finally:
        stop_all(children, timeout=20)
        smtp.stop()
        db.close()
        redis.Redis.from_url(redis_url).flushdb()


def scrape(url: str, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def enqueue(api: str, key: str, to: str, **options) -> str:
    body = {"task_name": "email.send_notification", "params": {"to": to, "subject": "s",
            "body": "b"}, "max_retries": 1, **options}  # fmt: skip
    # A connection per request (no Session): granian spreads them over its two workers.
    response = requests.post(f"{api}/api/tasks/enqueue", json=body, timeout=5,
                             headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def test_every_endpoint_reports_the_workload_as_postgres_records_it(system, tenant):
    db = system.db
    key = apikeys.create_key(db, tenant)
    auth = {"Authorization": f"Bearer {key}"}
    addresses = (
        [f"ok{i}@example.com" for i in range(OK)]
        + [f"refused{i}@example.com" for i in range(REFUSED)]
        + [f"later{i}@example.com" for i in range(LATER)]
    )
    run = [enqueue(system.api, key, to) for to in addresses]
    held = [enqueue(system.api, key, "x@example.com", delay_seconds=600) for _ in range(CANCELLED)]
    for task_id in held:
        response = requests.post(
            f"{system.api}/api/tasks/{task_id}/cancel", headers=auth, timeout=5
        )
        assert response.status_code == 200, response.text
    refused = requests.get(f"{system.api}/api/tasks/{run[0]}", timeout=5)  # no key: a 401
    assert refused.status_code == 401

    def statuses() -> dict[str, int] | None:
        rows = db.fetch_all(
            "SELECT status, count(*) AS n FROM offload.tasks WHERE tenant = %(t)s GROUP BY 1",
            {"t": tenant},
        )
        found = {r["status"]: r["n"] for r in rows}
        return found if found.get("pending", 0) + found.get("running", 0) == 0 else None

    in_postgres = wait_for(statuses, timeout=60)
    assert in_postgres == {"completed": OK + LATER, "failed": REFUSED, "cancelled": CANCELLED}
    [retried] = db.fetch_all(
        "SELECT count(*) AS n FROM offload.task_events e JOIN offload.tasks t ON t.id = e.task_id"
        " WHERE t.tenant = %(t)s AND e.status = 'pending' AND e.attempt > 0",
        {"t": tenant},
    )
    assert retried["n"] == LATER
    attempts = OK + REFUSED + 2 * LATER
    labels = {"queue": "email", "task_name": "email.send_notification"}
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def outcomes_seen():  # the group commit counts an outcome once it has landed
        worker = scrape(system.email_metrics)
        api = scrape(f"{system.api}/metrics", **bearer)
        both = {
            outcome: total(worker, "offload_task_outcomes_total", outcome=outcome, **labels)
            + total(api, "offload_task_outcomes_total", outcome=outcome, **labels)
            for outcome in ("completed", "failed", "retried", "cancelled")
        }
        expected = {"completed": OK + LATER, "failed": REFUSED, "retried": LATER,
                    "cancelled": CANCELLED}  # fmt: skip
        seen.append(both)
        return (worker, api) if both == expected else None

    seen: list[dict[str, float]] = []
    try:
        worker, api = wait_for(outcomes_seen, timeout=15)
    except AssertionError:
        raise AssertionError(f"outcomes counted: {seen[-1]}") from None
    # The cancels of pending tasks were the API's; the attempts' outcomes the worker's.
    assert total(api, "offload_task_outcomes_total", outcome="cancelled") == CANCELLED
    assert total(worker, "offload_task_run_seconds_count", **labels) == attempts
    assert total(worker, "offload_task_queue_wait_seconds_count", **labels) == attempts
    assert total(worker, "offload_task_run_seconds_bucket", le="+Inf", **labels) == attempts

    enqueues = total(api, "offload_http_requests_total", endpoint="/api/tasks/enqueue",
                     method="POST", code="202")  # fmt: skip
    assert enqueues == len(run) + len(held) == sum(in_postgres.values())
    assert total(api, "offload_http_requests_total", code="401") >= 1
    assert total(api, "offload_http_request_duration_seconds_count",
                 endpoint="/api/tasks/enqueue", method="POST") == enqueues  # fmt: skip


def test_the_gauges_match_postgres_on_every_endpoint(system, tenant):
    db = system.db
    key = apikeys.create_key(db, tenant)
    for _ in range(3):
        enqueue(system.api, key, "later@example.com", delay_seconds=600)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    endpoints = {
        "api": lambda: scrape(f"{system.api}/metrics", **bearer),
        "email worker": lambda: scrape(system.email_metrics),
        "scheduler": lambda: scrape(system.scheduler_metrics),
    }
    for name, read in endpoints.items():

        def matches(read=read):
            samples = read()
            stats = {q.queue: q for q in operations.queue_stats(db, None)}
            for queue, q in stats.items():
                for state in ("ready", "delayed", "waiting", "running"):
                    if total(samples, "offload_queue_tasks", queue=queue, state=state) != getattr(
                        q, state
                    ):
                        return None
                if total(samples, "offload_queue_backlog", queue=queue) != q.backlog:
                    return None
            if total(samples, "offload_workers_alive", queue="email") != 2:  # two processes
                return None
            lag = operations.outbox_lag(db)
            if total(samples, "offload_outbox_due") != lag.due:
                return None
            return samples

        samples = wait_for(matches, timeout=20)  # the gauges are cached a few seconds
        assert total(samples, "offload_postgres_figures_up") == 1, name
        assert total(samples, "offload_queue_tasks", queue="email", state="delayed") >= 3, name


def test_the_apis_metrics_need_the_token(system, tenant):
    key = apikeys.create_key(system.db, tenant, scopes=("read", "enqueue", "admin"))
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"Authorization": "Bearer nope"}):
        response = requests.get(f"{system.api}/metrics", headers=headers, timeout=5)
        assert response.status_code == 401, headers
        assert "OFFLOAD_METRICS_TOKEN" in response.json()["message"]
        assert TOKEN not in response.text
