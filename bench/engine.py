"""`make bench`: Offload's engine and bare Dramatiq, side by side, in one run.

    .venv/bin/python -m bench.engine              # everything, about six minutes on 2 cores
    .venv/bin/python -m bench.engine --quick      # shorter runs, noisier figures
    .venv/bin/python -m bench.engine --only drain,e2e

Both run on the same Redis server (each in a database of its own) and Offload on the same
Postgres, one after the other, so the ratio is the figure to read: absolute numbers move with
whatever else the machine is doing. Measured (2 worker processes x 8 threads for both):

  drain       20,000 no-op tasks queued first, then the workers started: first -> last done
  lib         enqueue from one thread, one after another: actor.send() / enqueue.submit()
  http        the API alone: single enqueue (8 keep-alive connections) and batches of 1,000
  e2e         workers running, an open loop offering 1, 5, 200, 500 and 1,000 tasks/s:
              enqueue -> completed p50/p99 (Offload through its HTTP API, completion time from
              Postgres; Dramatiq through actor.send(), completion recorded by the actor), and
              the API's answer time at each rate

Offload's task is `bench.noop` (bench/noop.py), declared like a team's own task; Dramatiq's
is bench/bare_dramatiq.py. Servers: OFFLOAD_BENCH_DATABASE_URL and OFFLOAD_BENCH_REDIS_URL
(Redis databases 13 and 12 of that server are used and flushed), else the local ones, else
embedded ones under .offload/bench (as `make test` does). Each run's figures are written to
.offload/bench/engine-<time>.json as well as printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests

from bench.http_load import percentile
from offload_dev import embedded
from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STATE = ROOT / ".offload" / "bench"
PROCESSES, THREADS = 2, 8
RATES: tuple[int, ...] = (1, 5, 200, 500, 1000)
HTTP_LATENCY_RATE = 500
CLK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Plan:
    drain_tasks: int = 20_000
    lib_tasks: int = 5_000
    http_seconds: float = 15.0
    e2e_seconds: dict[int, float] | None = None

    def seconds_at(self, rate: int) -> float:
        default = {1: 30.0, 5: 20.0}.get(rate, 20.0)
        return (self.e2e_seconds or {}).get(rate, default)


QUICK = Plan(
    drain_tasks=10_000,
    lib_tasks=2_000,
    http_seconds=6.0,
    e2e_seconds={1: 10.0, 5: 8.0, 200: 6.0, 500: 6.0, 1000: 6.0},
)


# -- measuring ---------------------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants still alive (utime + stime)."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            continue
    return total


def named_cpu(names: set[str]) -> float:
    """CPU seconds of every process with one of these names (the local servers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() in names:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / CLK
            except OSError:
                continue
    return total


def latency(values_s: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values_s, 50) * 1000, 2),
        "p99_ms": round(percentile(values_s, 99) * 1000, 2),
        "n": len(values_s),
    }


def wait_quiet(limit: float = 0.2, patience: float = 30.0) -> float:
    """Wait (a while) for the machine to be less busy than `limit`; returns how busy it was."""
    deadline = time.monotonic() + patience
    while True:
        a = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        time.sleep(1.0)
        b = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        total = sum(b) - sum(a)
        busy = 1 - ((b[3] + b[4]) - (a[3] + a[4])) / max(total, 1)
        if busy < limit or time.monotonic() > deadline:
            return busy


# -- the two systems ---------------------------------------------------------------------------


class Bench:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        STATE.mkdir(parents=True, exist_ok=True)
        self.logs = STATE / "logs"
        self.logs.mkdir(exist_ok=True)
        self.database_url = os.environ.get(
            "OFFLOAD_BENCH_DATABASE_URL"
        ) or embedded.resolve_postgres(STATE, "offload_bench")
        base = os.environ.get("OFFLOAD_BENCH_REDIS_URL") or embedded.resolve_redis(STATE, 13)
        self.redis_url = _with_db(base, 13)
        self.bare_url = _with_db(base, 12)
        from offload_shared import migrate

        migrate.migrate(self.database_url)
        self.pg = psycopg.connect(self.database_url, autocommit=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BARE_DRAMATIQ_REDIS_URL": self.bare_url,
            "OFFLOAD_TASK_MODULES": "bench.noop",
            "OFFLOAD_API_HOST": "127.0.0.1",
            "OFFLOAD_WORKER_PROCESSES": str(PROCESSES),
            "OFFLOAD_WORKER_THREADS": str(THREADS),
            # The figures include the rate limiter's cost (a script call per request) but not
            # its refusals: one key sends far more than the default 100 requests/s here.
            "OFFLOAD_RATE_LIMIT_PER_KEY": "1000000",
            "OFFLOAD_RATE_LIMIT_PER_KEY_BURST": "1000000",
            "OFFLOAD_RATE_LIMIT_PER_TENANT": "1000000",
            "OFFLOAD_RATE_LIMIT_PER_TENANT_BURST": "1000000",
        }
        self.figures: dict[str, Any] = {}

    def reset(self) -> None:
        self.pg.execute("TRUNCATE offload.tasks, offload.outbox, offload.workers CASCADE")
        for url in (self.redis_url, self.bare_url):
            client = redis.Redis.from_url(url)
            client.flushdb()
            client.close()

    def spawn(self, name: str, argv: list[str], **env: str) -> Child:
        log_file = self.logs / f"{name}.log"
        log_file.unlink(missing_ok=True)
        return spawn(name, argv, env={**self.env, **env}, log_file=log_file, cwd=ROOT)

    @contextmanager
    def worker(self, name: str, argv: list[str], **env: str) -> Iterator[Child]:
        child = self.spawn(name, argv, **env)
        try:
            wait_until(lambda: _log_count(child, "is ready for action") >= PROCESSES, child, 60,
                       "its worker processes to boot")  # fmt: skip
            yield child
        finally:
            stop_all([child], timeout=30)

    def offload_worker(self) -> AbstractContextManager[Child]:
        # With a health port, as the images run it: its /metrics, and the counting for it in
        # every worker process (metrics.py), are part of the figures.
        argv = [sys.executable, "-m", "bench.noop_worker"]
        return self.worker("offload-worker", argv, OFFLOAD_HEALTH_PORT=str(free_port()))

    def dramatiq_worker(self) -> AbstractContextManager[Child]:
        argv = [str(BIN / "dramatiq"), "bench.bare_dramatiq", "-p", str(PROCESSES),
                "-t", str(THREADS), "-Q", "benchbare"]  # fmt: skip
        return self.worker("dramatiq-worker", argv)

    @contextmanager
    def api(self, **env: str) -> Iterator[tuple[str, Child]]:
        port = free_port()
        child = self.spawn("offload-api", [str(BIN / "offload-api")], API_PORT=str(port), **env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _answers(f"{url}/readyz"), child, 60, "the API to answer")
            yield url, child
        finally:
            stop_all([child], timeout=40)

    def api_key(self, tenant: str) -> str:
        from offload_shared.apikeys import create_key
        from offload_shared.db import Database

        db = Database(self.database_url, max_size=1)
        try:
            return create_key(db, tenant)
        finally:
            db.close()

    def http_load(self, url: str, key: str, body: str, *, conns: int, seconds: float,
                  rate: float = 0) -> dict[str, Any]:  # fmt: skip
        argv = [sys.executable, "-m", "bench.http_load", "--url", url, "--key", key,
                "--body", body, "--conns", str(conns), "--duration", str(seconds)]  # fmt: skip
        if rate:
            argv += ["--rate", str(rate)]
        out = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=seconds + 120)  # fmt: skip
        return json.loads(out.stdout)

    # -- Offload's side, through Postgres -------------------------------------------------------

    def completed(self, tenant: str) -> int:
        row = self.pg.execute(
            "SELECT count(*) FROM offload.tasks WHERE tenant = %s AND status = 'completed'",
            (tenant,),
        ).fetchone()
        return int(row[0]) if row else 0

    def wait_completed(self, tenant: str, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.completed(tenant) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.completed(tenant)} of {n} tasks completed")
            time.sleep(0.1)

    def e2e_offload(self, tenant: str) -> list[float]:
        rows = self.pg.execute(
            "SELECT (params->>'t')::bigint, extract(epoch FROM completed_at) FROM offload.tasks"
            " WHERE tenant = %s AND status = 'completed'",
            (tenant,),
        ).fetchall()
        return [float(done) - t / 1e9 for t, done in rows]

    # -- Dramatiq's side, through its recorder keys ---------------------------------------------

    def bare(self) -> Any:
        os.environ["BARE_DRAMATIQ_REDIS_URL"] = self.bare_url
        from bench import bare_dramatiq

        return bare_dramatiq

    def bare_done(self) -> int:
        client = redis.Redis.from_url(self.bare_url)
        try:
            return int(client.get("benchbare:done") or 0)
        finally:
            client.close()

    def bare_latencies(self) -> list[tuple[int, int]]:
        client = redis.Redis.from_url(self.bare_url)
        try:
            raw: list[bytes] = client.lrange("benchbare:lat", 0, -1)  # type: ignore[assignment]
            pairs = [m.decode().split(":") for m in raw]
        finally:
            client.close()
        return [(int(a), int(b)) for a, b in pairs]

    def bare_open_loop(self, *, rate: float, seconds: float) -> int:
        """Dramatiq's producer in a process of its own, as Offload's load generator is."""
        argv = [sys.executable, "-m", "bench.bare_dramatiq", str(rate), str(seconds)]
        out = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=seconds + 60)  # fmt: skip
        return int(out.stdout.split()[-1])

    def wait_bare(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.bare_done() < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.bare_done()} of {n} Dramatiq jobs done")
            time.sleep(0.02)


def _with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def _log_count(child: Child, text: str) -> int:
    path = child.log_file
    return path.read_text(errors="replace").count(text) if path and path.exists() else 0


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


# -- the measurements --------------------------------------------------------------------------


def measure_drain(bench: Bench) -> dict[str, Any]:
    n = bench.plan.drain_tasks
    bench.reset()
    actor = bench.bare().noop
    for _ in range(n):
        actor.send(0)
    wait_quiet()
    with bench.dramatiq_worker() as worker:
        bench.wait_bare(n, timeout=300)
        cpu = tree_cpu(worker.pid)
    done = [b for _, b in bench.bare_latencies()]
    dramatiq = {"tasks_per_s": round(n / ((max(done) - min(done)) / 1e9), 1),
                "worker_cpu_us_per_task": round(cpu / n * 1e6)}  # fmt: skip

    bench.reset()
    from bench.noop import NOOP
    from offload_shared.broker import make_broker
    from offload_shared.db import Database
    from offload_shared.enqueue import new_task, submit_many
    from offload_shared.publisher import Publisher
    from offload_shared.store import TaskStore

    db = Database(bench.database_url, max_size=1)
    publisher = Publisher(make_broker(bench.redis_url))
    for start in range(0, n, 1_000):
        size = min(1_000, n - start)
        submit_many(TaskStore(db), publisher, [new_task(NOOP, "drain", {}) for _ in range(size)])
    publisher.close()
    db.close()
    bench.pg.execute("DELETE FROM offload.outbox")  # published: what the sweeper would do
    before = _pg_counters(bench)
    wait_quiet()
    pg_cpu = named_cpu({"postgres"})
    with bench.offload_worker() as worker:
        bench.wait_completed("drain", n, timeout=300)
        cpu = tree_cpu(worker.pid)
        pg_cpu = named_cpu({"postgres"}) - pg_cpu
    span = bench.pg.execute(
        "SELECT min(completed_at), max(completed_at) FROM offload.tasks WHERE tenant = 'drain'"
    ).fetchone()
    assert span is not None
    first, last = span
    per_task = {k: round(v / n, 2) for k, v in _delta(before, _pg_counters(bench)).items()}
    offload = {
        "tasks_per_s": round(n / (last - first).total_seconds(), 1),
        "worker_cpu_us_per_task": round(cpu / n * 1e6),
        "postgres_cpu_us_per_task": round(pg_cpu / n * 1e6),
        "postgres_per_task": per_task,
    }
    return {"tasks": n, "dramatiq": dramatiq, "offload": offload}


def _pg_counters(bench: Bench) -> dict[str, float]:
    time.sleep(1.0)  # backends report their statistics within about half a second
    row = bench.pg.execute(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
        " WHERE datname = current_database()"
    ).fetchone()
    wal = bench.pg.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal").fetchone()
    hot = bench.pg.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
        " WHERE schemaname = 'offload' AND relname = 'tasks'"
    ).fetchone()
    assert row is not None
    assert wal is not None
    assert hot is not None
    names = ("commits", "rows_inserted", "rows_updated", "rows_deleted", "wal_records",
             "wal_bytes", "task_updates", "task_hot_updates")  # fmt: skip
    return dict(zip(names, (float(v) for v in (*row, *wal, *hot)), strict=True))


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: b[k] - a[k] for k in a}


def measure_lib(bench: Bench) -> dict[str, Any]:
    n = bench.plan.lib_tasks
    bench.reset()
    actor = bench.bare().noop
    times = []
    for _ in range(n):
        started = time.perf_counter()
        actor.send(0)
        times.append(time.perf_counter() - started)
    dramatiq = {"per_s": round(n / sum(times), 1), **latency(times)}

    from bench.noop import NOOP
    from offload_shared.broker import make_broker
    from offload_shared.db import Database
    from offload_shared.enqueue import new_task, submit
    from offload_shared.outbox import OutboxSweeper
    from offload_shared.publisher import Publisher
    from offload_shared.store import TaskStore

    db = Database(bench.database_url, max_size=2)
    store, publisher = TaskStore(db), Publisher(make_broker(bench.redis_url), OutboxSweeper(db))
    times = []
    for _ in range(n):
        started = time.perf_counter()
        submit(store, publisher, new_task(NOOP, "lib", {}))
        times.append(time.perf_counter() - started)
    publisher.close()
    db.close()
    offload = {"per_s": round(n / sum(times), 1), **latency(times)}
    return {"tasks": n, "dramatiq": dramatiq, "offload": offload}


def measure_http(bench: Bench) -> dict[str, Any]:
    bench.reset()
    seconds = bench.plan.http_seconds
    key = bench.api_key("http")
    single = json.dumps({"task_name": "bench.noop", "params": {"t": 0}})
    batch = json.dumps({"tasks": [{"task_name": "bench.noop", "params": {"t": 0}}] * 1_000})
    out: dict[str, Any] = {}
    with bench.api() as (url, api):
        bench.http_load(f"{url}/api/tasks/enqueue", key, single, conns=8, seconds=2)  # warm-up
        wait_quiet()
        cpu = tree_cpu(api.pid)
        result = bench.http_load(f"{url}/api/tasks/enqueue", key, single, conns=8,
                                 seconds=seconds)  # fmt: skip
        cpu = tree_cpu(api.pid) - cpu
        out["single"] = {
            "requests_per_s": result["requests_per_s"],
            "latency_ms": result["latency_ms_from_send"],
            "errors": _errors(result),
            "api_cpu_us_per_request": round(cpu / max(result["requests"], 1) * 1e6),
        }
    for name, env in (("batch", {}), ("batch_2_processes", {"OFFLOAD_API_WORKERS": "2"})):
        bench.reset()
        with bench.api(**env) as (url, api):
            wait_quiet()
            cpu = tree_cpu(api.pid)
            result = bench.http_load(f"{url}/api/tasks/enqueue/batch", key, batch, conns=4,
                                     seconds=seconds)  # fmt: skip
            cpu = tree_cpu(api.pid) - cpu
        out[name] = {
            "tasks_per_s": round(result["requests_per_s"] * 1_000, 1),
            "latency_ms": result["latency_ms_from_send"],
            "errors": _errors(result),
            "api_cpu_us_per_task": round(cpu / max(result["requests"] * 1_000, 1) * 1e6, 1),
        }
    return out


def _errors(result: dict[str, Any]) -> int:
    return int(result["errors"]) + sum(v for k, v in result["statuses"].items() if k != "202")


def measure_e2e(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {"offload": {}, "dramatiq": {}}
    bench.reset()
    with bench.dramatiq_worker():
        bench.bare_open_loop(rate=50, seconds=1)  # warm-up
        bench.wait_bare(50, timeout=30)
        for rate in RATES:
            before = bench.bare_done()
            seconds = bench.plan.seconds_at(rate)
            wait_quiet()
            sent = bench.bare_open_loop(rate=rate, seconds=seconds)
            bench.wait_bare(before + sent, timeout=120)
            pairs = bench.bare_latencies()[before:]
            out["dramatiq"][str(rate)] = latency([(b - a) / 1e9 for a, b in pairs])

    bench.reset()
    with bench.offload_worker() as worker, bench.api() as (url, api):
        warm = bench.api_key("warm")
        body = json.dumps({"task_name": "bench.noop", "params": {"t": 0}}).replace(
            '"t": 0', '"t": {T}'
        )
        bench.http_load(f"{url}/api/tasks/enqueue", warm, body, conns=4, seconds=2, rate=50)
        for rate in RATES:
            tenant = f"e2e-{rate}"
            key = bench.api_key(tenant)
            seconds = bench.plan.seconds_at(rate)
            wait_quiet()
            cpu = _cpu_split(api, worker)
            http = bench.http_load(f"{url}/api/tasks/enqueue", key, body,
                                   conns=min(64, max(4, rate // 10)), seconds=seconds,
                                   rate=rate)  # fmt: skip
            accepted = http["statuses"].get("202", 0)
            bench.wait_completed(tenant, accepted, timeout=120)
            spent = _cpu_split(api, worker)
            out["offload"][str(rate)] = {
                **latency(bench.e2e_offload(tenant)),
                "achieved_per_s": http["requests_per_s"],
                "http_ms": http["latency_ms_from_due"],
                "http_errors": http["errors"],
                "cpu_us_per_task": {
                    k: round((spent[k] - cpu[k]) / max(accepted, 1) * 1e6) for k in cpu
                }
                | {"load generator": http["client_cpu_us_per_request"]},
            }
    return out


def _cpu_split(api: Child, worker: Child) -> dict[str, float]:
    return {
        "api": tree_cpu(api.pid),
        "workers": tree_cpu(worker.pid),
        "postgres": named_cpu({"postgres"}),
        "redis": named_cpu({"redis-server"}),
    }


MEASUREMENTS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "drain": measure_drain,
    "lib": measure_lib,
    "http": measure_http,
    "e2e": measure_e2e,
}


# -- the report --------------------------------------------------------------------------------


def table(figures: dict[str, Any]) -> str:
    rows = ["| figure | Offload | bare Dramatiq | ratio | goal |", "|---|---|---|---|---|"]

    def ratio(ours: float, theirs: float, higher_is_better: bool = True) -> str:
        if not theirs or not ours:
            return "—"
        return f"{(ours / theirs if higher_is_better else theirs / ours):.2f}x"

    if "drain" in figures:
        d = figures["drain"]
        o, b = d["offload"], d["dramatiq"]
        rows.append(f"| drain, {d['tasks']:,} no-op tasks, {PROCESSES} x {THREADS} | "
                    f"{o['tasks_per_s']:,.0f} tasks/s | {b['tasks_per_s']:,.0f} jobs/s | "
                    f"{ratio(o['tasks_per_s'], b['tasks_per_s'])} | ≥ 0.9x |")  # fmt: skip
        rows.append(f"| worker CPU per task | {o['worker_cpu_us_per_task']} µs "
                    f"(+ Postgres {o['postgres_cpu_us_per_task']} µs) | "
                    f"{b['worker_cpu_us_per_task']} µs | | |")  # fmt: skip
        p = o["postgres_per_task"]
        rows.append(f"| Postgres per task (drain) | {p['commits']} commits, "
                    f"{p['rows_inserted']} inserts, {p['rows_updated']} updates, "
                    f"{p['wal_records']:.0f} WAL records | — | | |")  # fmt: skip
    if "lib" in figures:
        o, b = figures["lib"]["offload"], figures["lib"]["dramatiq"]
        rows.append(f"| library enqueue, one thread | {o['per_s']:,.0f}/s, p50 "
                    f"{o['p50_ms']} ms, p99 {o['p99_ms']} ms | {b['per_s']:,.0f}/s, p50 "
                    f"{b['p50_ms']} ms, p99 {b['p99_ms']} ms | {ratio(o['per_s'], b['per_s'])} "
                    f"| |")  # fmt: skip
    if "http" in figures:
        s, bt = figures["http"]["single"], figures["http"]["batch"]
        bt2 = figures["http"].get("batch_2_processes")
        rows.append(f"| HTTP single enqueue, API alone, 8 connections | "
                    f"{s['requests_per_s']:,.0f} req/s, p50 {s['latency_ms']['p50']} ms, p99 "
                    f"{s['latency_ms']['p99']} ms, {s['api_cpu_us_per_request']} µs API CPU each "
                    f"| — | | ≥ 1,500/s |")  # fmt: skip
        rows.append(f"| HTTP batch enqueue (1,000 per request, 4 connections) | "
                    f"{bt['tasks_per_s']:,.0f} tasks/s, {bt['api_cpu_us_per_task']} µs API CPU "
                    f"per task | — | | ≥ 20,000/s |")  # fmt: skip
        if bt2:
            rows.append(f"| the same, API with 2 processes (OFFLOAD_API_WORKERS=2) | "
                        f"{bt2['tasks_per_s']:,.0f} tasks/s | — | | |")  # fmt: skip
    if "e2e" in figures:
        o, b = figures["e2e"]["offload"], figures["e2e"]["dramatiq"]
        if str(HTTP_LATENCY_RATE) in o:
            h = o[str(HTTP_LATENCY_RATE)]
            rows.append(f"| HTTP enqueue at {HTTP_LATENCY_RATE} req/s offered, workers running | "
                        f"{h['achieved_per_s']:,.0f} req/s achieved, p50 {h['http_ms']['p50']} ms, "
                        f"p99 {h['http_ms']['p99']} ms | — | | p50 ≤ 3, p99 ≤ 10 ms |")  # fmt: skip
        for rate in RATES:
            if str(rate) in o and str(rate) in b:
                x, y = o[str(rate)], b[str(rate)]
                rows.append(f"| enqueue → completed at {rate:,}/s offered | p50 {x['p50_ms']} ms,"
                            f" p99 {x['p99_ms']} ms ({x['achieved_per_s']:,.0f}/s) | "
                            f"p50 {y['p50_ms']} ms, p99 {y['p99_ms']} ms | "
                            f"{ratio(x['p99_ms'], y['p99_ms'], higher_is_better=False)} (p99) | "
                            f"p99 ≤ 15 ms |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated subset")
    parser.add_argument("--rates", help="e2e only at these rates, e.g. 200,500")
    args = parser.parse_args()
    if args.rates:
        global RATES
        RATES = tuple(int(r) for r in args.rates.split(","))
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(chosen) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(sorted(unknown))}")
    bench = Bench(QUICK if args.quick else Plan())
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()},
        "workers": f"{PROCESSES} processes x {THREADS} threads",
        "id": uuid.uuid4().hex[:8],
    }
    print(f"bench {run['id']}: Offload and bare Dramatiq, side by side ({run['workers']})")
    for name in chosen:
        started = time.monotonic()
        print(f"  {name} ...", end="", flush=True)
        bench.figures[name] = MEASUREMENTS[name](bench)
        print(f" {time.monotonic() - started:.0f} s", flush=True)
    bench.reset()
    result = {**run, "figures": bench.figures}
    path = STATE / f"engine-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print()
    print(table(bench.figures))
    print(f"\nall figures: {path}")
    embedded.stop()


if __name__ == "__main__":
    main()
