"""offload_dev.run (the `make run` supervisor), driven with stand-in console scripts."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from offload_dev import api_key, run
from offload_dev.procs import free_port
from tests.conftest import wait_for

FAKE_OFFLOAD = """
import sys
if sys.argv[1:] == ["migrate"]:
    sys.exit(0)
if sys.argv[1:] == ["api-key", "create", "--tenant", "dev"]:
    print("created a key for tenant dev")
    print("ofk_fake_key")
    sys.exit(0)
sys.exit(2)
"""

FAKE_SERVICE = """
import http.server, os, pathlib, sys, time
name = pathlib.Path(sys.argv[0]).name
pathlib.Path("pids", name).write_text(str(os.getpid()))
print(name, "smtp", os.environ["OFFLOAD_SMTP_HOST"], os.environ["OFFLOAD_SMTP_PORT"], flush=True)
if name == "offload-api":
    server = ("127.0.0.1", int(os.environ["API_PORT"]))
    http.server.HTTPServer(server, http.server.BaseHTTPRequestHandler).serve_forever()
if name == "offload-report-worker" and os.environ.get("FAKE_CRASH"):
    time.sleep(1)
    sys.exit(3)
time.sleep(60)
"""

DRIVER = """
import sys
from pathlib import Path
from offload_dev import run
run.venv_bin = lambda name: Path({bin!r}) / name
sys.exit(run.main())
"""


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{textwrap.dedent(body)}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_bin(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "offload", FAKE_OFFLOAD)
    for name in run.SERVICES:
        _script(bin_dir / name, FAKE_SERVICE)
    return bin_dir


def _start(tmp_path: Path, fake_bin: Path, **extra: str) -> subprocess.Popen[str]:
    work = tmp_path / "work"
    (work / "pids").mkdir(parents=True)
    env = {
        **os.environ,
        # Unreachable on purpose: set URLs are used as is, and the fakes never connect.
        "DATABASE_URL": "postgresql://user:hunter2@127.0.0.1:1/offload",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "API_PORT": str(free_port()),
        **extra,
    }
    env.pop("OFFLOAD_SMTP_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(bin=str(fake_bin))],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} not seen in:\n{''.join(seen)}")


def _finish(proc: subprocess.Popen[str]) -> str:
    """The rest of the output once `proc` exits (the output is small: no pipe deadlock)."""
    assert proc.stdout is not None
    proc.wait(timeout=90)
    rest = proc.stdout.read()
    proc.stdout.close()
    return rest


def _assert_all_gone(work: Path) -> None:
    for pid_file in (work / "pids").iterdir():
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.timeout(120)
def test_sigterm_stops_everything_and_exits_zero(tmp_path, fake_bin):
    sup = _start(tmp_path, fake_bin)
    out = _read_until(sup, "Offload is running")
    pids = tmp_path / "work" / "pids"
    # Each stand-in writes its pid once its interpreter is up, which can trail the banner.
    wait_for(lambda: len(list(pids.iterdir())) == len(run.SERVICES), timeout=30)
    sup.send_signal(signal.SIGTERM)
    out += _finish(sup)
    assert sup.returncode == 0, out
    assert "dev API key  ofk_fake_key" in out
    assert "http://127.0.0.1:" in out
    assert "/docs" in out
    assert "/ui/" in out  # the dashboard
    assert "hunter2" not in out  # passwords in URLs are redacted
    assert "smtp-sink        | SMTP sink listening on 127.0.0.1:" in out
    assert "smtp 127.0.0.1 " in out  # the services were pointed at the sink
    assert (tmp_path / "work" / ".offload" / "dev-api-key").read_text() == "ofk_fake_key\n"
    _assert_all_gone(tmp_path / "work")


@pytest.mark.timeout(120)
def test_a_dying_service_stops_everything_with_exit_code_one(tmp_path, fake_bin):
    sup = _start(tmp_path, fake_bin, FAKE_CRASH="1")
    out = _finish(sup)
    assert sup.returncode == 1, out
    assert "report-worker exited unexpectedly (code 3)" in out
    _assert_all_gone(tmp_path / "work")


def test_redact_hides_passwords_only():
    assert run.redact("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    assert run.redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_dev_api_key_is_created_then_reused_while_active(tmp_path, fake_bin, monkeypatch):
    key_file = tmp_path / "dev-api-key"
    env = {**os.environ, "DATABASE_URL": "postgresql://127.0.0.1:1/none"}
    assert api_key.dev_api_key(fake_bin / "offload", env, key_file) == "ofk_fake_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.write_text("ofk_saved\n")
    monkeypatch.setattr(api_key, "key_is_active", lambda url, key: key == "ofk_saved")
    assert api_key.dev_api_key(fake_bin / "offload", env, key_file) == "ofk_saved"


def test_the_services_it_starts_log_text_unless_the_user_chose_a_format(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/offload")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("OFFLOAD_LOG_FORMAT", raising=False)
    assert run.prepare_env(tmp_path)["OFFLOAD_LOG_FORMAT"] == "text"
    monkeypatch.setenv("OFFLOAD_LOG_FORMAT", "json")
    assert run.prepare_env(tmp_path)["OFFLOAD_LOG_FORMAT"] == "json"
