"""`make run` (`offload-dev`): run Offload locally with everything it needs.

Uses DATABASE_URL and REDIS_URL when set, else a local or embedded PostgreSQL/Redis (state in
./.offload). Starts an SMTP sink unless OFFLOAD_SMTP_HOST is set, applies the migrations, makes
a dev API key, then runs the API and the three workers until Ctrl-C, SIGTERM, or one of them
exits (then everything is stopped and the exit code is 1).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from offload_dev import api_key, embedded
from offload_dev.procs import (
    Child,
    ProcessError,
    free_port,
    port_open,
    print_block,
    spawn,
    stop_all,
    wait_until,
)
from offload_shared import logs

log = logging.getLogger("offload_dev")

STATE_DIR_NAME = ".offload"
SERVICES = (
    "offload-api",
    "offload-email-worker",
    "offload-report-worker",
    "offload-analytics-worker",
    "offload-scheduler",
)
DOCS_PATH = "/docs"
DASHBOARD_PATH = "/ui/"
API_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class StopRequested(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


def venv_bin(name: str) -> Path:
    """A console script installed next to the running interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise ProcessError(f"{path} not found; run `make venv`")
    return path


def redact(url: str) -> str:
    """`url` with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def prepare_env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = env.get("DATABASE_URL") or embedded.resolve_postgres(state_dir, "offload")
    env["REDIS_URL"] = env.get("REDIS_URL") or embedded.resolve_redis(state_dir, 0)
    env["API_PORT"] = env.get("API_PORT") or "8000"
    if not env["API_PORT"].isdigit():
        raise ProcessError(f"API_PORT must be a port number, not {env['API_PORT']!r}")
    env.setdefault("OFFLOAD_API_HOST", "127.0.0.1")  # a dev server stays on this machine
    # Readable lines in a terminal; deployments keep the default, one JSON object per line.
    env["OFFLOAD_LOG_FORMAT"] = env.get("OFFLOAD_LOG_FORMAT") or "text"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_smtp_sink(env: dict[str, str], mail_dir: Path) -> Child | None:
    """Start the SMTP sink unless OFFLOAD_SMTP_HOST is set; point `env` at it."""
    if env.get("OFFLOAD_SMTP_HOST"):
        return None
    port = free_port()
    argv = [sys.executable, "-m", "offload_dev.smtp_sink", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--save-dir", str(mail_dir)]
    sink = spawn("smtp-sink", argv, env=env)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), sink, 15, "listening")
    except BaseException:
        stop_all([sink])
        raise
    env.update(OFFLOAD_SMTP_HOST="127.0.0.1", OFFLOAD_SMTP_PORT=str(port))
    env["OFFLOAD_SMTP_SECURITY"] = "none"
    return sink


def banner(env: dict[str, str], key: str, state_dir: Path, sink: Child | None) -> str:
    api = f"http://127.0.0.1:{env['API_PORT']}"
    if sink is not None:
        mail = f"logged below as 'smtp-sink | email ...', saved in {state_dir / 'mail'}/"
    else:
        mail = f"sent to {env['OFFLOAD_SMTP_HOST']}:{env.get('OFFLOAD_SMTP_PORT', 'default port')}"
    rule = "=" * 72
    return "\n".join([
        rule,
        "Offload is running. Press Ctrl-C to stop.",
        f"  API          {api}",
        f"  API docs     {api}{DOCS_PATH}",
        f"  dashboard    {api}{DASHBOARD_PATH}  (log in with the dev API key)",
        f"  dev API key  {key}  (tenant 'dev', saved in {state_dir / 'dev-api-key'})",
        f"  emails       {mail}",
        f"  offload CLI  export OFFLOAD_API_URL={api} OFFLOAD_API_KEY={key}",
        "               then e.g. .venv/bin/offload stats",
        f"  database     {redact(env['DATABASE_URL'])}",
        f"  redis        {redact(env['REDIS_URL'])}",
        rule,
    ])  # fmt: skip


def watch(children: list[Child]) -> int:
    """Block until a child exits; report it and return 1."""
    while True:
        for child in children:
            code = child.poll()
            if code is not None:
                log.error("%s exited unexpectedly (code %s); stopping everything", child.name, code)
                return 1
        time.sleep(0.5)


def run(state_dir: Path, children: list[Child]) -> int:
    """Start everything, appending each child to `children`; return when one dies."""
    env = prepare_env(state_dir)
    sink = start_smtp_sink(env, state_dir / "mail")
    if sink is not None:
        children.append(sink)
    offload = venv_bin("offload")
    log.info("applying migrations")
    if subprocess.run([str(offload), "migrate"], env=env, check=False).returncode != 0:
        raise ProcessError("`offload migrate` failed")
    key = api_key.dev_api_key(offload, env, state_dir / "dev-api-key")
    port = int(env["API_PORT"])
    if port_open("127.0.0.1", port):
        raise ProcessError(f"port {port} is already in use; set API_PORT to another port")
    for name in SERVICES:
        children.append(spawn(name.removeprefix("offload-"), [str(venv_bin(name))], env=env))
    api = next(child for child in children if child.name == "api")
    wait_until(lambda: port_open("127.0.0.1", port), api, API_START_TIMEOUT, "listening")
    print_block(banner(env, key, state_dir, sink))
    return watch(children + embedded.children())


def main() -> int:
    # Its own lines sit among the services' output it relays as `NAME | line`: text, so prefixed.
    logs.configure(
        "offload-dev", "text", text_format=f"{'offload-dev':<16} | %(message)s", stream=sys.stdout
    )
    # SIGINT too, explicitly: started from a shell that ignores it (a background job of a
    # non-interactive shell), Python would leave it ignored and Ctrl-C would do nothing.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    state_dir = Path.cwd() / STATE_DIR_NAME
    state_dir.mkdir(exist_ok=True)
    children: list[Child] = []
    try:
        return run(state_dir, children)
    except (KeyboardInterrupt, StopRequested):
        log.info("stop requested")
        return 0
    except ProcessError as exc:
        log.error("%s", exc)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if children:
            log.info("stopping %s", ", ".join(child.name for child in children))
        stop_all(reversed(children), STOP_TIMEOUT)
        embedded.stop()
        log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
