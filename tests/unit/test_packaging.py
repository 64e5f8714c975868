"""Each service is its own deployable unit: the API must not drag in the workers' heavy deps."""

import json
import subprocess
import sys

HEAVY = (
    "pandas",
    "numpy",
    "xlsxwriter",
    "offload_email_worker",
    "offload_report_worker",
    "offload_analytics_worker",
)
PROBE = (
    "import json, sys, offload_api.app; "
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
)


def test_the_api_imports_neither_pandas_nor_worker_code():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == []


def test_api_package_does_not_declare_pandas():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    deps = tomllib.loads((root / "services/api/pyproject.toml").read_text())["project"]
    assert not [d for d in deps["dependencies"] if d.startswith(("pandas", "xlsxwriter"))]
