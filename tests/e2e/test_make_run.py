"""`make run`'s supervisor as a newcomer uses it: start it, read the banner, enqueue a task with
the printed key, look at it with the `offload` command the banner sets up, press Ctrl-C, and find
nothing left running."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
import requests

from offload_dev.procs import free_port
from tests.conftest import wait_for


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_make_run_serves_the_api_and_ctrl_c_stops_everything(infra, tmp_path):
    port = free_port()
    # Its own Redis database: the session's `stack` workers must not take its messages.
    redis_url = infra.other_redis_db(14)
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "REDIS_URL": redis_url,
        "API_PORT": str(port),
    }
    env.pop("OFFLOAD_SMTP_HOST", None)
    # Started the way a script's background job is: with SIGINT ignored, which the supervisor
    # must undo for Ctrl-C to work.
    offload_dev = str(Path(sys.executable).with_name("offload-dev"))
    supervisor = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$0"', offload_dev],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(supervisor.stdout), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        banner = wait_for(
            lambda: "Offload is running" in "".join(lines) and "".join(lines), timeout=90
        )
        key = re.search(r"dev API key\s+(ofk_\S+)", banner)[1]
        assert f"http://127.0.0.1:{port}" in banner
        started |= descendants(supervisor.pid)

        api = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        task = requests.post(
            f"{api}/api/tasks/enqueue",
            headers=auth,
            timeout=5,
            json={
                "task_name": "email.send_notification",
                "params": {"to": "first@example.com", "subject": "It works", "body": "Hi"},
            },
        ).json()
        done = wait_for(
            lambda: (
                (
                    t := requests.get(
                        f"{api}/api/tasks/{task['task_id']}", headers=auth, timeout=5
                    ).json()
                )["status"]
                == "completed"
                and t
            ),
            timeout=30,
        )
        assert done["result"]["accepted"] == ["first@example.com"]
        wait_for(lambda: "to=first@example.com subject='It works'" in "".join(lines))
        exports = dict(re.findall(r"(OFFLOAD_API_(?:URL|KEY))=(\S+)", banner))
        assert exports == {"OFFLOAD_API_URL": api, "OFFLOAD_API_KEY": key}
        shown = subprocess.run(
            [str(Path(sys.executable).with_name("offload")), "status", task["task_id"], "--json"],
            env={**os.environ, **exports}, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["status"] == "completed"
    finally:
        started |= descendants(supervisor.pid)
        supervisor.send_signal(signal.SIGINT)
        try:
            supervisor.wait(timeout=60)
        except subprocess.TimeoutExpired:  # the test fails, and leaves nothing behind
            kill_all([supervisor.pid, *started])
            supervisor.wait(timeout=10)
        reader.join(timeout=5)
        supervisor.stdout.close()
        left = [pid for pid in started if alive(pid)]
        kill_all(left)  # whatever Ctrl-C missed: the test fails below, and leaves nothing behind
    assert supervisor.returncode == 0, "".join(lines)
    assert "stopped" in lines[-1]
    assert left == []
