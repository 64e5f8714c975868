"""The real `offload-analytics-worker` process runs all four actors through the status middleware.

Proves the registration (names, queue), the wiring to the worker's pool and settings (the
allowed hosts come from its environment), and how outcomes are recorded: a permanent error
fails at once, a retryable one is retried.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from offload_dev.procs import free_port, stop_all
from offload_shared import snapshots
from offload_shared.broker import disconnect, make_broker
from offload_shared.errors import TaskNotFound
from offload_shared.store import TaskStore
from tests import services
from tests.conftest import submit_task, wait_for
from tests.seeding import seed

FINISHED = ("completed", "failed", "cancelled")


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self):
        status = {"/metrics": 200, "/gone": 404}.get(self.path, 503)
        body = json.dumps([{"id": 1}, {"id": 2}]).encode() if status == 200 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def metrics_url():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Metrics)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def worker(infra, tmp_path_factory):
    """One worker process for this module's tests (it takes seconds to stop gracefully)."""
    client = redis.Redis.from_url(infra.redis_url)
    client.flushdb()
    client.close()
    log = tmp_path_factory.mktemp("analytics-worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": infra.redis_url,
        "OFFLOAD_WORKER_THREADS": "2",
        "OFFLOAD_RETRY_BACKOFF_SECONDS": "0.05",
        "OFFLOAD_SYNC_ALLOWED_HOSTS": "127.0.0.1",
        "OFFLOAD_SYNC_TIMEOUT": "2",
    }
    child, _ = services.start(
        "analytics", [str(services.BIN / "offload-analytics-worker")], env, log
    )
    try:
        yield child
    finally:
        stop_all([child], timeout=20)


@pytest.fixture
def enqueue(db, infra, tenant):
    broker = make_broker(infra.redis_url)
    yield lambda task_name, params, **kw: submit_task(db, broker, tenant, task_name, params, **kw)
    disconnect(broker)


def finished(db, tenant, task):
    current = TaskStore(db).get(tenant, task.id)
    return current if current.status in FINISHED else None


def test_the_worker_runs_all_four_actors(db, tenant, worker, enqueue, metrics_url):
    old = datetime.now(UTC) - timedelta(days=100)
    doomed = seed(db, tenant, status="completed", created_at=old, started_at=old, completed_at=old)
    today = datetime.now(UTC).date().isoformat()
    tasks = {
        "dashboard": enqueue("analytics.update_dashboard", {}),
        "trends": enqueue(
            "analytics.process_data",
            {"data_type": "task_trends", "date_range": {"start_date": today, "end_date": today}},
        ),
        "sync": enqueue("analytics.sync_metrics", {"source_url": f"{metrics_url}/metrics"}),
        "cleanup": enqueue("cleanup.old_records", {"days_to_keep": 30}),
    }
    done = {name: wait_for(lambda t=task: finished(db, tenant, t)) for name, task in tasks.items()}

    assert {n: t.status for n, t in done.items()} == dict.fromkeys(tasks, "completed"), {
        n: t.error_message for n, t in done.items()
    }
    assert done["dashboard"].result == snapshots.latest(db, tenant, "dashboard")
    assert done["trends"].result == snapshots.latest(db, tenant, "task_trends")
    assert done["trends"].result["days"][0]["date"] == today
    assert (done["sync"].result["created"], done["sync"].result["fetched"]) == (2, 2)
    assert done["cleanup"].result["tasks"] == 1
    with pytest.raises(TaskNotFound):
        TaskStore(db).get(tenant, doomed)
    assert done["cleanup"].progress == 100


def test_a_client_error_fails_at_once_and_a_server_error_is_retried(
    db, tenant, worker, enqueue, metrics_url
):
    gone = enqueue("analytics.sync_metrics", {"source_url": f"{metrics_url}/gone"}, max_retries=3)
    busy = enqueue("analytics.sync_metrics", {"source_url": f"{metrics_url}/busy"}, max_retries=1)

    gone_done = wait_for(lambda: finished(db, tenant, gone))
    busy_done = wait_for(lambda: finished(db, tenant, busy))

    assert (gone_done.status, gone_done.attempts) == ("failed", 1)
    assert gone_done.error_message == "PermanentTaskError: the source answered HTTP 404"
    assert (busy_done.status, busy_done.attempts, busy_done.retry_count) == ("failed", 2, 1)
    assert busy_done.error_message == "SourceUnavailable: the source answered HTTP 503"
