"""Find PostgreSQL and Redis for development and tests.

A server answering on localhost (PostgreSQL on 5432, Redis on 6379) is used as is. Otherwise an
embedded one is started under `state_dir` on a free TCP port of 127.0.0.1, so that any process on
this machine can connect with the returned URL. Set OFFLOAD_DEV_FORCE_EMBEDDED=1 (or pass
`force_embedded=True`) to skip the localhost probe.

Embedded servers stop on `stop()`, at interpreter exit, and (on Linux) when the process that
started them dies, even if it is killed with SIGKILL. Start them from the main thread: Linux
ties the parent-death signal to the thread that started the child.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import errors, sql

from offload_dev import embedded_pg, embedded_redis
from offload_dev.procs import Child, stop_all

log = logging.getLogger("offload_dev")

FORCE_EMBEDDED_ENV = "OFFLOAD_DEV_FORCE_EMBEDDED"
LOCAL_POSTGRES = ("postgresql://localhost:5432", "postgresql://postgres@localhost:5432")
LOCAL_REDIS = "redis://localhost:6379"

Starter = Callable[[Path, Path], tuple[int, Child | None]]

_lock = threading.RLock()
# data directory -> (server URL without a path, our child or None if another process runs it)
_servers: dict[Path, tuple[str, Child | None]] = {}


def force_embedded_requested(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(FORCE_EMBEDDED_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def children() -> list[Child]:
    """The embedded servers started by this process and not stopped yet."""
    with _lock:
        return [child for _, child in _servers.values() if child is not None]


def stop(timeout: float = 15.0, *, state_dir: Path | None = None) -> None:
    """Stop the embedded servers this process started (only those under `state_dir` if given).

    Newest first; safe to call more than once.
    """
    under = None if state_dir is None else state_dir.resolve()
    with _lock:
        chosen = [d for d in _servers if under is None or d.is_relative_to(under)]
        started = [child for d in reversed(chosen) if (child := _servers.pop(d)[1]) is not None]
    if started:
        log.info("stopping embedded %s", ", ".join(c.name for c in started))
    stop_all(started, timeout)


atexit.register(stop)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock between processes (e.g. parallel test runs) sharing a state dir."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded(data_dir: Path, start: Starter, log_file: Path, url_prefix: str) -> str:
    """Base URL (`url_prefix` + host:port) of the embedded server for `data_dir`, started once."""
    with _lock:
        if data_dir not in _servers:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            with _file_lock(data_dir.parent / f"{data_dir.name}.lock"):
                port, child = start(data_dir, log_file)
            _servers[data_dir] = (f"{url_prefix}127.0.0.1:{port}", child)
        return _servers[data_dir][0]


def _local_postgres() -> str | None:
    for base in LOCAL_POSTGRES:
        try:
            with psycopg.connect(f"{base}/postgres", connect_timeout=2):
                return base
        except psycopg.Error:
            continue
    return None


def ensure_database(base: str, dbname: str) -> None:
    """Create database `dbname` on the server at `base` unless it exists."""
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            return  # created concurrently by another process
        log.info("created database %r", dbname)


def resolve_postgres(state_dir: Path, dbname: str, *, force_embedded: bool | None = None) -> str:
    """libpq URL of database `dbname` (created if missing) on a local or embedded server."""
    force = force_embedded_requested() if force_embedded is None else force_embedded
    base = None if force else _local_postgres()
    if base is not None:
        log.info("using the PostgreSQL server on localhost:5432")
    else:
        state_dir = state_dir.resolve()
        prefix = f"postgresql://{embedded_pg.SUPERUSER}@"
        base = _embedded(
            state_dir / "pgdata", embedded_pg.start, state_dir / "postgres.log", prefix
        )
    ensure_database(base, dbname)
    return f"{base}/{quote(dbname, safe='')}"


def resolve_redis(state_dir: Path, db: int, *, force_embedded: bool | None = None) -> str:
    """redis:// URL of database `db` on a local or embedded server."""
    force = force_embedded_requested() if force_embedded is None else force_embedded
    if not force and embedded_redis.answers(LOCAL_REDIS):
        log.info("using the Redis server on localhost:6379")
        return f"{LOCAL_REDIS}/{db}"
    state_dir = state_dir.resolve()
    base = _embedded(state_dir / "redis", embedded_redis.start, state_dir / "redis.log", "redis://")
    return f"{base}/{db}"
