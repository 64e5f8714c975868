"""Child processes for the dev tools: spawn, relay output, wait until ready, stop with a deadline.

Every child runs in its own session (process group), so a Ctrl-C in the terminal reaches only
the supervisor, which then stops each child with one signal (a second one would make prefork
servers such as Dramatiq or granian skip their graceful shutdown). On Linux each child also
gets a parent-death signal, so it cannot outlive the process that started it, even one killed
with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("offload_dev")

_PR_SET_PDEATHSIG = 1
_print_lock = threading.Lock()


class ProcessError(RuntimeError):
    """A child process failed to start or to become ready."""


@dataclass
class Child:
    """A started child process, leader of its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    stop_signal: signal.Signals = signal.SIGTERM
    log_file: Path | None = None
    _relay: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def send(self, sig: signal.Signals) -> None:
        """Signal the child's whole process group (e.g. SIGSTOP/SIGCONT to pause a worker)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def signal_leader(self, sig: signal.Signals) -> None:
        """Signal the child alone; a prefork server forwards it to its own children."""
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        text = self.log_file.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send `sig` to the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def print_block(text: str) -> None:
    """Print `text` without interleaving with the children's relayed output."""
    with _print_lock:
        print(text, flush=True)


def _relay_output(name: str, stream: IO[bytes], width: int) -> None:
    prefix = f"{name:<{width}} | "
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        with _print_lock:
            print(prefix + line, flush=True)
    stream.close()


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    log_file: Path | None = None,
    run_as: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    prefix_width: int = 16,
) -> Child:
    """Start `argv`. Output goes to `log_file` if given, else to stdout prefixed by `name`.

    `run_as` (root only) runs the child as that user with its primary group and no other groups.
    The parent-death signal is `stop_signal`.
    """
    kwargs: dict[str, Any] = {}
    if run_as is not None:
        kwargs.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    out: IO[bytes] | int
    out = log_file.open("ab") if log_file is not None else subprocess.PIPE
    try:
        popen = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(stop_signal),
            **kwargs,
        )
    except OSError as exc:
        raise ProcessError(f"{name}: cannot start {argv[0]}: {exc}") from exc
    finally:
        if not isinstance(out, int):
            out.close()
    child = Child(name, popen, stop_signal, log_file)
    if popen.stdout is not None:
        child._relay = threading.Thread(
            target=_relay_output, args=(name, popen.stdout, prefix_width), daemon=True
        )
        child._relay.start()
    return child


def wait_until(ready: Callable[[], bool], child: Child, timeout: float, what: str) -> None:
    """Poll `ready()` until true; fail early if `child` exits, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        code = child.poll()
        if code is not None:
            tail = child.log_tail()
            details = f"; last lines of {child.log_file}:\n{tail}" if tail else ""
            raise ProcessError(f"{child.name} exited with code {code} before {what}{details}")
        if time.monotonic() > deadline:
            raise ProcessError(f"{child.name}: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def stop_all(children: Iterable[Child], timeout: float = 10.0) -> None:
    """Send each running child its stop signal, wait up to `timeout` overall, then SIGKILL."""
    children = list(children)
    running = [c for c in children if c.poll() is None]
    for child in running:
        child.signal_leader(child.stop_signal)
        child.send(signal.SIGCONT)  # a paused (SIGSTOP) process acts on signals once resumed
    deadline = time.monotonic() + timeout
    for child in running:
        try:
            child.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop in time; killing it", child.name, child.pid)
            child.send(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(5)
    for child in children:
        child.send(signal.SIGKILL)  # stragglers left in the group by a leader that exited
        if child._relay is not None:
            child._relay.join(timeout=1)
