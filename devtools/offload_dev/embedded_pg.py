"""Embedded PostgreSQL: the server binaries shipped in the `pgserver` wheel, run as a child.

We do not use `pgserver.get_server()`: it listens on a Unix socket only, starts a daemon through
`pg_ctl` that survives its parent when that parent is killed, and counts users in a pid file
that goes stale after a crash (then it never stops the server). Running `postgres` ourselves
gives a TCP port on 127.0.0.1 and a server that dies with the supervisor.

PostgreSQL refuses to run as root. As root, we run initdb and the server as the unprivileged
system user `pgserver` (the account pgserver itself uses), creating it with `useradd` if needed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import psycopg

from offload_dev.procs import Child, ProcessError, free_port, spawn, stop_all, wait_until

log = logging.getLogger("offload_dev")

SERVICE_USER = "pgserver"
SUPERUSER = "postgres"
START_TIMEOUT = 60.0


def bin_dir() -> Path:
    """Directory of the PostgreSQL binaries bundled in the pgserver package."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ProcessError("embedded PostgreSQL needs the 'pgserver' package")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise ProcessError(f"no PostgreSQL binaries in {path}")
    return path


def server_url(port: int, dbname: str = "postgres") -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{dbname}"


def _service_account() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    log.info("running as root: creating system user %r for PostgreSQL", SERVICE_USER)
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return pwd.getpwnam(SERVICE_USER)
    except (OSError, subprocess.CalledProcessError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise ProcessError(
            f"PostgreSQL cannot run as root and creating user {SERVICE_USER!r} failed: {detail}"
        ) from exc


def _allow_traversal(path: Path) -> None:
    """Add o+x to `path`'s ancestors that lack it, so the service account can reach it."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("granting o+x on %s so user %r can reach %s", parent, SERVICE_USER, path)
            parent.chmod(mode | stat.S_IXOTH)


def _running_port(pgdata: Path) -> int | None:
    """Port of a live server already using `pgdata` (started by another supervisor), if any."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port


def _can_connect(port: int) -> bool:
    try:
        with psycopg.connect(server_url(port), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _initdb(pgdata: Path, account: pwd.struct_passwd | None, log_file: Path) -> None:
    """Create the cluster in a staging directory, then rename it: no half-made `pgdata`."""
    if pgdata.exists() and any(pgdata.iterdir()):
        raise ProcessError(f"{pgdata} is not a PostgreSQL data directory; move it away")
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if account is not None:
        _allow_traversal(staging)
        _allow_traversal(bin_dir())
        os.chown(staging, account.pw_uid, account.pw_gid)
    staging.chmod(0o700)
    log.info("initialising embedded PostgreSQL data directory %s", pgdata)
    argv = [
        str(bin_dir() / "initdb"),
        "-D",
        str(staging),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
    ]
    child = spawn("initdb", argv, env=_env(), log_file=log_file, run_as=account, cwd=staging)
    try:
        code = child.popen.wait()
    except BaseException:
        stop_all([child])
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if code != 0:
        raise ProcessError(f"initdb failed (exit {code}); see {log_file}:\n{child.log_tail()}")
    if pgdata.exists():
        pgdata.rmdir()  # empty, checked above
    staging.rename(pgdata)


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}


def start(pgdata: Path, log_file: Path, *, port: int | None = None) -> tuple[int, Child | None]:
    """Start PostgreSQL on `pgdata` on 127.0.0.1 (`port`, or a free one); return (port, child).

    Passing the port of an earlier run restarts a server where its clients expect it. If another
    process already runs a server on `pgdata`, return its port and no child (it is not ours to
    stop).
    """
    pgdata = pgdata.resolve()
    running = _running_port(pgdata)
    if running is not None and _can_connect(running):
        log.info("reusing embedded PostgreSQL already running on port %d", running)
        return running, None
    account = _service_account()
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, account, log_file)
    elif account is not None:
        _allow_traversal(pgdata)
    port = free_port() if port is None else port
    argv = [
        str(bin_dir() / "postgres"),
        "-D",
        str(pgdata),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        "unix_socket_directories=",
        "-c",
        "synchronous_commit=off",
    ]
    # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and exit cleanly.
    child = spawn(
        "postgres",
        argv,
        env=_env(),
        stop_signal=signal.SIGINT,
        log_file=log_file,
        run_as=account,
        cwd=pgdata,
    )
    try:
        wait_until(lambda: _can_connect(port), child, START_TIMEOUT, "accepting connections")
    except BaseException:
        stop_all([child])
        raise
    log.info("embedded PostgreSQL listening on 127.0.0.1:%d (data in %s)", port, pgdata)
    return port, child
