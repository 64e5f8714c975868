"""offload_dev.procs: spawn, readiness, stop with a deadline, no orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from offload_dev.procs import ProcessError, free_port, port_open, spawn, stop_all, wait_until

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie counts as gone
        return stat.read().split(")")[-1].split()[0] != "Z"


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_output_is_relayed_with_the_name_as_prefix(capfd):
    child = spawn("hello", [PY, "-c", "print('hi there')"], prefix_width=6)
    assert child.popen.wait(10) == 0
    stop_all([child])
    assert "hello  | hi there" in capfd.readouterr().out


def test_output_can_go_to_a_log_file(tmp_path):
    log = tmp_path / "child.log"
    child = spawn("logged", [PY, "-c", "print('to the file')"], log_file=log)
    assert child.popen.wait(10) == 0
    stop_all([child])
    assert log.read_text() == "to the file\n"


def test_wait_until_fails_early_when_the_child_exits(tmp_path):
    log = tmp_path / "child.log"
    child = spawn("quitter", [PY, "-c", "print('boom'); raise SystemExit(3)"], log_file=log)
    with pytest.raises(ProcessError, match=r"(?s)quitter exited with code 3 before ready.*boom"):
        wait_until(lambda: False, child, 10, "ready")


def test_wait_until_times_out():
    child = spawn("sleeper", [PY, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(ProcessError, match="timed out"):
            wait_until(lambda: False, child, 0.3, "never")
    finally:
        stop_all([child])


def test_stop_all_kills_a_child_that_ignores_its_stop_signal():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
    child = spawn("stubborn", [PY, "-c", code])
    time.sleep(0.5)
    started = time.monotonic()
    stop_all([child], timeout=0.5)
    assert child.popen.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_port_helpers():
    port = free_port()
    assert not port_open("127.0.0.1", port)
    child = spawn("server", [PY, "-m", "http.server", "--bind", "127.0.0.1", str(port)])
    try:
        wait_until(lambda: port_open("127.0.0.1", port), child, 10, "listening")
    finally:
        stop_all([child])
    assert child.popen.returncode is not None


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only"
)
def test_children_do_not_outlive_a_killed_parent(tmp_path):
    parent_code = textwrap.dedent(
        """
        import sys, time
        from offload_dev.procs import spawn
        child = spawn("orphan", [sys.executable, "-c", "import time; time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([PY, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    assert _gone(child_pid)
