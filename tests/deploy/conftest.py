"""Static checks of deploy/: the tools come from .venv-checks (see the Makefile), else PATH."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHECKS_BIN = ROOT / ".venv-checks" / "bin"


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """The path of a checking tool; `make test` installs all but kubectl."""

    def find(name: str) -> str:
        found = shutil.which(name, path=str(CHECKS_BIN)) or shutil.which(name)
        if found is None:
            hint = "install kubectl" if name == "kubectl" else "run `make test`, which installs it"
            pytest.skip(f"{name} not found: {hint}")
        return found

    return find


def documented_variables():
    """The first column of the README's configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    names = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, flags=re.MULTILINE))
    assert {"DATABASE_URL", "REDIS_URL", "OFFLOAD_SMTP_HOST"} <= names  # the table was read
    return names
