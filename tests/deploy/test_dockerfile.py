"""deploy/Dockerfile: lint-clean, one slim non-root target per service, each with only its own
service installed. The Dockerfile is read as text: instructions are few and simple here."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from .conftest import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"

# target -> (its service's package, its console script)
TARGETS = {
    "api": ("./services/api", "offload-api"),
    "email-worker": ("./services/email_worker", "offload-email-worker"),
    "report-worker": ("./services/report_worker", "offload-report-worker"),
    "analytics-worker": ("./services/analytics_worker", "offload-analytics-worker"),
    "scheduler": ("./services/scheduler", "offload-scheduler"),
}
WORKERS = {"email-worker", "report-worker", "analytics-worker", "scheduler"}
BUILD_TOOLS = {"gcc", "g++", "cc", "clang", "make", "build-essential", "python3-dev"}


def parse_stages(text):
    """{stage name: {"base": FROM image or stage, "lines": [(INSTRUCTION, args), ...]}}."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    stages = {}
    for keyword, args in instructions:
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else words[0]
            current = stages[name] = {"base": words[0], "lines": []}
        else:
            current["lines"].append((keyword, args))
    return stages


STAGES = parse_stages(DOCKERFILE.read_text())


def chain(name):
    """The instructions a stage runs, its parent stages' first (a FROM of a stage inherits)."""
    stage = STAGES[name]
    inherited = chain(stage["base"]) if stage["base"] in STAGES else []
    return inherited + stage["lines"]


def effective_env(name):
    env = {}
    for keyword, args in chain(name):
        if keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def last(name, keyword):
    values = [args for kw, args in chain(name) if kw == keyword]
    return values[-1] if values else None


def builder_of(target):
    """The stage the target copies /opt/venv from."""
    for keyword, args in STAGES[target]["lines"]:
        words = args.split()
        if keyword == "COPY" and words[-1] == "/opt/venv" and words[0].startswith("--from="):
            return words[0].removeprefix("--from=")
    raise AssertionError(f"target {target} copies no /opt/venv from a builder")


def test_hadolint_finds_nothing(tool):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, findings
    assert findings == ""


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_its_console_script_as_a_numeric_non_root_user(target):
    assert target in STAGES, f"no `FROM ... AS {target}` in deploy/Dockerfile"
    user = last(target, "USER")
    assert user is not None
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: runAsNonRoot can only verify a numeric uid"
    assert int(uid) > 0, f"USER {user} is root"
    assert gid.isdigit(), f"USER {user}: give a numeric gid too"
    assert int(gid) > 0, f"USER {user}: root group"
    _, script = TARGETS[target]
    assert last(target, "CMD") == f'["{script}"]'  # exec form: signals reach the service


@pytest.mark.parametrize("target", TARGETS)
def test_target_environment(target):
    env = effective_env(target)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    if target in WORKERS:
        assert env["OFFLOAD_HEALTH_PORT"] == "9191"
        assert "9191" in last(target, "EXPOSE").split()
    else:
        assert "8000" in last(target, "EXPOSE").split()


@pytest.mark.parametrize("target", TARGETS)
def test_builder_installs_only_shared_and_its_own_service(target):
    builder = builder_of(target)
    installs = [
        shlex.split(args)
        for keyword, args in chain(builder)
        if keyword == "RUN" and "pip" in args and " install " in args
    ]
    assert len(installs) == 1, f"{builder}: expected one pip install, found {installs}"
    words = installs[0]
    service, _ = TARGETS[target]
    assert {w for w in words if w.startswith(("./", "/src"))} == {"./shared", service}
    assert not {"-e", "--editable"} & set(words), "the images install non-editably"
    assert "-c" in words, "pinned by constraints.txt"
    assert words[words.index("-c") + 1] == "constraints.txt"


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_is_slim_without_build_tools(target):
    base = target
    while STAGES[base]["base"] in STAGES:
        base = STAGES[base]["base"]
    assert STAGES[base]["base"].startswith("python:3.11-slim"), STAGES[base]["base"]
    for keyword, args in chain(target):
        if keyword == "RUN":
            packages = {word.split("=")[0] for word in shlex.split(args)}  # gcc=12.2 too
            assert not BUILD_TOOLS & packages, f"build tools in {target}: {args}"
