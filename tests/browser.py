"""Headless Chromium for the browser tests: the system's (Debian's `chromium`, which `make test`
installs with apt-get when it can), driven by Playwright; Playwright's own browser downloads
are never used. Without a Chromium, or without Playwright, the test skips saying what is
missing."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.conftest import ROOT

ARTIFACTS = ROOT / ".test-artifacts"  # git-ignored: screenshots the browser tests save
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium() -> str:
    path = os.environ.get("OFFLOAD_CHROMIUM") or next(
        (p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None
    )
    if not path:
        pytest.skip(
            "no Chromium found (looked for OFFLOAD_CHROMIUM, chromium, chromium-browser on "
            "PATH): install Debian's with `apt-get install chromium` (make test does when "
            "apt-get is usable)"
        )
    return path


def launch(pw: Any) -> Any:
    """The system's Chromium, headless, through a started `sync_playwright()`."""
    executable = chromium()
    # Chromium's sandbox needs user namespaces (or a setuid helper), which a container
    # running as root usually lacks: without --no-sandbox it refuses to start as root.
    # The pages are our own, served locally, so the sandbox guards nothing here.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return pw.chromium.launch(executable_path=executable, headless=True, args=args)
