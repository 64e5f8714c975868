"""Benchmark: the dashboard's pages with a million tasks in the table.

    .venv/bin/python -m bench.ui [--tasks N] [--span-days D] [--runs R] [--reseed]

It uses a database of its own, OFFLOAD_BENCH_UI_DATABASE_URL (default
postgresql://localhost/offload_bench_ui, created if missing, migrated), never the test or the
development database, and OFFLOAD_BENCH_UI_REDIS_URL (default redis://localhost:6379/13; only
the rate limiter's buckets are written there). One tenant gets N tasks (default 1,000,000) in
one set-based INSERT ... SELECT generate_series (tests/seeding.py, `seed_many`): 90 %
completed, 3 % failed, 1 % cancelled, 6 % pending, created evenly over the last D days
(default 7), then ANALYZE. Seeding is skipped when the tenant already has N tasks.

Each page is rendered by the real app (create_app) through Flask's test client, logged in with
a key like a browser: the time is the server's whole work for the page (session lookup, the
queries, the template), not the network. After 2 warm-up requests each page is asked for R
times (default 20); it prints the median and the 95th percentile against the 300 ms budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

from offload_api.app import create_app
from offload_shared import apikeys, migrate
from offload_shared.db import Database
from offload_shared.settings import Settings
from tests.seeding import seed_many
from tests.ui_client import Browser

TENANT = "bench-ui"
BUDGET_MS = 300.0
DEFAULT_DB = "postgresql://localhost/offload_bench_ui"
DEFAULT_REDIS = "redis://localhost:6379/13"


def ensure_database(url: str) -> None:
    """Create the bench's database if it does not exist (through the server's `postgres`)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]


def seed(db: Database, tasks: int, span_days: float, reseed: bool) -> float | None:
    """The tenant's N tasks; returns the seconds seeding took (None when they were there)."""
    row = db.fetch_one(
        "SELECT count(*) AS n FROM offload.tasks WHERE tenant = %(t)s", {"t": TENANT}
    )
    if row and row["n"] == tasks and not reseed:
        return None
    started = time.monotonic()
    with db.connection() as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("TRUNCATE offload.tasks CASCADE")
    seed_many(db, TENANT, tasks, span_seconds=span_days * 86_400, completed_pct=90)
    with db.connection() as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("VACUUM ANALYZE offload.tasks")
    return time.monotonic() - started


def pages(db: Database) -> list[tuple[str, str]]:
    """(label, url) of the pages measured, with values that exist in the seeded table."""
    some = db.fetch_one(
        "SELECT id FROM offload.tasks WHERE tenant = %(t)s ORDER BY created_at DESC LIMIT 1",
        {"t": TENANT},
    )
    assert some is not None
    task_id = str(some["id"])
    since = (datetime.now(UTC) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    until = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    return [
        ("overview", "/ui/"),
        ("overview, one queue", "/ui/?queue=email"),
        ("tasks", "/ui/tasks"),
        ("tasks, page 100", "/ui/tasks?page=100"),
        ("tasks, failed", "/ui/tasks?status=failed"),
        ("tasks, pending", "/ui/tasks?status=pending"),
        ("tasks, queue reports", "/ui/tasks?queue=reports"),
        ("tasks, one task name", "/ui/tasks?task_name=analytics.update_dashboard"),
        ("tasks, failed in queue email", "/ui/tasks?status=failed&queue=email"),
        ("tasks, last 6 hours", f"/ui/tasks?since={since}"),
        ("tasks, older than 3 days", f"/ui/tasks?until={until}"),
        ("tasks, id prefix (4 chars)", f"/ui/tasks?id={task_id[:4]}"),
        ("tasks, id prefix (8 chars)", f"/ui/tasks?id={task_id[:8]}"),
        ("tasks, live refresh rows", "/ui/tasks?fragment=rows"),
        ("task detail", f"/ui/tasks/{task_id}"),
        ("workers", "/ui/workers"),
        ("schedules", "/ui/schedules"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--span-days", type=float, default=7.0)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("OFFLOAD_BENCH_UI_DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("OFFLOAD_BENCH_UI_REDIS_URL") or DEFAULT_REDIS
    ensure_database(url)
    migrate.migrate(url)
    db = Database(url, max_size=2, statement_timeout_ms=600_000)
    seeded = seed(db, args.tasks, args.span_days, args.reseed)
    if seeded is not None:
        print(f"seeded {args.tasks:,} tasks in {seeded:.1f} s (INSERT ... SELECT + VACUUM ANALYZE)")
    key = apikeys.create_key(db, TENANT, scopes=["read"])
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "OFFLOAD_RATE_LIMIT_PER_KEY": "100000",
            "OFFLOAD_RATE_LIMIT_PER_KEY_BURST": "100000",
            "OFFLOAD_RATE_LIMIT_PER_TENANT": "100000",
            "OFFLOAD_RATE_LIMIT_PER_TENANT_BURST": "100000",
        }
    )
    app = create_app({"OFFLOAD_SETTINGS": settings})
    browser = Browser(app)
    assert browser.login(key).status_code == 303
    total = db.fetch_one("SELECT count(*) AS n FROM offload.tasks")
    print(f"{total['n'] if total else 0:,} tasks in the table; {args.runs} runs per page\n")
    print(f"{'page':<32} {'median ms':>10} {'p95 ms':>8}  budget {BUDGET_MS:.0f} ms")
    over = []
    for label, page in pages(db):
        times = []
        for i in range(args.runs + 2):
            started = time.perf_counter()
            response = browser.get(page)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (page, response.status_code)
            response.close()
            if i >= 2:
                times.append(elapsed)
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
        verdict = "ok" if p95 < BUDGET_MS else "OVER"
        if verdict == "OVER":
            over.append(label)
        print(f"{label:<32} {median:>10.1f} {p95:>8.1f}  {verdict}")
    app.extensions["offload"].close()
    db.close()
    if over:
        print(f"\nover budget: {', '.join(over)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
