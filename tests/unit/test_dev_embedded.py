"""offload_dev.embedded: forced embedded PostgreSQL and Redis, usable from other processes."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from offload_dev import embedded


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_force_embedded_switch(value, expected):
    assert embedded.force_embedded_requested({embedded.FORCE_EMBEDDED_ENV: value}) is expected


@pytest.mark.timeout(180)
def test_forced_embedded_servers_serve_other_processes_and_stop(tmp_path):
    state = tmp_path / "state"
    ours = []
    try:
        pg_url = embedded.resolve_postgres(state, "dev_one", force_embedded=True)
        redis_url = embedded.resolve_redis(state, 3, force_embedded=True)
        assert pg_url.startswith("postgresql://postgres@127.0.0.1:")
        assert pg_url.endswith("/dev_one")
        assert redis_url.startswith("redis://127.0.0.1:")
        assert redis_url.endswith("/3")
        # A second database on the same server, without starting another one.
        other = embedded.resolve_postgres(state, "dev_two", force_embedded=True)
        assert other.rsplit("/", 1)[0] == pg_url.rsplit("/", 1)[0]
        ours = [c for c in embedded.children() if str(state) in " ".join(c.popen.args)]
        assert sorted(c.name for c in ours) == ["postgres", "redis"]

        check = textwrap.dedent(
            f"""
            import psycopg, redis
            with psycopg.connect({pg_url!r}) as conn:
                print(conn.execute("SELECT current_database()").fetchone()[0])
            client = redis.Redis.from_url({redis_url!r})
            client.set("k", "v")
            print(client.get("k").decode(), client.connection_pool.connection_kwargs["db"])
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        assert out.split() == ["dev_one", "v", "3"]
    finally:
        embedded.stop(state_dir=state)
    for child in ours:
        assert child.popen.returncode is not None
        assert _gone(child.pid)
    assert not any(str(state) in " ".join(c.popen.args) for c in embedded.children())
