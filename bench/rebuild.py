"""How fast the scheduler rebuilds a Redis that lost everything, from N pending tasks in Postgres.

    .venv/bin/python -m bench.rebuild [--tasks 100000]

N pending email tasks (priorities 1-10, one in ten delayed) are inserted under a tenant of the
bench's own, Redis database 11 is flushed (what a restart without persistence leaves), and the
scheduler's Reconciler runs pass after pass, as the scheduler does while it rebuilds, until
every message is back; the tasks are deleted afterwards. Issue 14's goal is every pending task
back within 15 s of Redis answering again. Servers as in bench/engine.py
(OFFLOAD_BENCH_DATABASE_URL, OFFLOAD_BENCH_REDIS_URL, else local, else embedded).
"""

from __future__ import annotations

import argparse
import os
import time

from bench.engine import STATE, _with_db
from offload_dev import embedded
from offload_scheduler.reconcile import Reconciler
from offload_shared import migrate
from offload_shared.broker import disconnect, make_broker
from offload_shared.db import Database
from offload_shared.publisher import Publisher

TENANT = "bench-rebuild"
INSERT = """
INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, status, params, priority,
                           max_retries, time_limit_ms, created_at, next_attempt_at)
SELECT gen_random_uuid(), %(tenant)s, 'email.send_notification', 'email', 'email', 'pending',
       jsonb_build_object('to', jsonb_build_array('user' || g || '@example.com'),
                          'subject', 'Welcome', 'body', 'Hello and welcome aboard.'),
       1 + g %% 10, 3, 60000, now() - (g %% 5000) * interval '1 ms',
       CASE WHEN g %% 10 = 0 THEN now() + interval '1 hour' END
FROM generate_series(%(first)s, %(last)s) g
"""
CHUNK = 50_000  # rows per insert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("OFFLOAD_BENCH_DATABASE_URL") or embedded.resolve_postgres(
        STATE, "offload_bench"
    )
    base = os.environ.get("OFFLOAD_BENCH_REDIS_URL") or embedded.resolve_redis(STATE, 11)
    migrate.migrate(database_url)
    db = Database(database_url, max_size=2, statement_timeout_ms=600_000)  # bulk insert, delete
    broker = make_broker(_with_db(base, 11))
    try:
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.tasks WHERE tenant = %(t)s", {"t": TENANT})
        for first in range(1, args.tasks + 1, CHUNK):
            last = min(first + CHUNK - 1, args.tasks)
            with db.connection() as conn:
                conn.execute(INSERT, {"tenant": TENANT, "first": first, "last": last})
        others = db.fetch_one("SELECT count(*) AS n FROM offload.tasks WHERE status = 'pending'")
        pending = int(others["n"]) if others else args.tasks
        broker.redis.client.flushdb()
        reconciler = Reconciler(db, broker.redis, Publisher(broker), window_seconds=30)
        started = time.monotonic()
        restored, passes = reconciler.run_once(), 1
        while reconciler.rebuilding is not None:
            restored += reconciler.run_once()
            passes += 1
        took = time.monotonic() - started
        sizes = broker.redis.sizes("email")
        print(
            f"rebuild: {restored:,} messages of {pending:,} pending tasks put back in {took:.2f} s "
            f"({restored / took:,.0f}/s, {passes} scheduler passes); email queue now "
            f"{sizes.ready:,} ready + {sizes.delayed:,} delayed"
        )
    finally:
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.tasks WHERE tenant = %(t)s", {"t": TENANT})
        broker.redis.client.flushdb()
        disconnect(broker)
        db.close()
        embedded.stop()


if __name__ == "__main__":
    main()
