"""The API's nginx front (deploy/k8s/base/api-proxy.conf) as a real process, for the tests that
go through it. The file is run as shipped, with only its addresses and its /tmp moved."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from offload_dev.procs import Child, free_port, spawn, stop_all, wait_until

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "k8s" / "base" / "api-proxy.conf"
NGINX_NAMES = ("nginx", "/usr/sbin/nginx")


@dataclass
class Proxy:
    url: str
    port: int
    child: Child


def nginx() -> str:
    found = next((p for name in NGINX_NAMES if (p := shutil.which(name))), None)
    if found is None:
        pytest.skip("nginx is not installed (make test installs it with apt-get where it can)")
    return found


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=1).status_code
    except requests.RequestException:
        return None


def render(listen_port: int, api_port: int, tmp: Path) -> str:
    """The shipped file, listening on `listen_port` (loopback), in front of `api_port`."""
    text = CONF.read_text()
    moves = {
        "listen 8080;": f"listen 127.0.0.1:{listen_port};",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{api_port};",
        " /tmp/": f" {tmp}/",
    }
    for old, new in moves.items():
        assert old in text, f"{CONF.name} no longer holds {old!r}"
        text = text.replace(old, new)
    return text


@contextmanager
def running(api_port: int, log_file: Path, *, ready_status: int = 200) -> Iterator[Proxy]:
    """nginx in front of the API on `api_port`, until the block ends; ready once its /healthz
    answers `ready_status`."""
    binary = nginx()
    # nginx's workers drop root to `nobody`: they must be able to reach their temporary files.
    tmp = Path(tempfile.mkdtemp(prefix="offload-nginx-"))
    tmp.chmod(0o755)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(render(port, api_port, tmp))
    argv = [binary, "-p", str(tmp), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
    child = spawn("api-proxy", argv, env=dict(os.environ), log_file=log_file)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{url}/healthz") == ready_status, child, 30, "nginx")
        yield Proxy(url, port, child)
    finally:
        stop_all([child], timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
