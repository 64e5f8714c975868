"""The logs of the real processes (the e2e stack: API under granian, three Dramatiq workers,
the scheduler, OFFLOAD_LOG_FORMAT=json): every line is a JSON object; every line a task
produces names the task, its attempt and the request that enqueued it; every API request line
has its request id; and no secret or param appears in any process's output."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from offload_dev.procs import free_port
from tests.conftest import wait_for
from tests.e2e.conftest import Stack, canary

BASE_FIELDS = {"ts", "level", "logger", "message", "service"}
TASK_FIELDS = ("task_id", "task_name", "tenant", "attempt", "queue")
SERVICES = {
    "api": "api",
    "email": "email-worker",
    "report": "report-worker",
    "analytics": "analytics-worker",
    "scheduler": "scheduler",
}


def read_lines(logs: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each process's lines, parsed; and every line that is not a JSON object."""
    parsed: dict[str, list[dict[str, Any]]] = {}
    not_json: list[str] = []
    for path in sorted(logs.glob("*.log")):
        lines = parsed.setdefault(path.stem, [])
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if isinstance(line, dict):
                lines.append(line)
            else:
                not_json.append(f"{path.name}: {raw}")
    return parsed, not_json


@pytest.fixture(scope="module")
def activity(stack: Stack) -> dict[str, Any]:
    """Requests and tasks whose params, key and headers hold canaries; returns what was sent."""
    tenant = f"logs-{uuid.uuid4().hex[:8]}"
    client = stack.client(tenant)
    key = client.headers["Authorization"].removeprefix("Bearer ")
    canaries = dict(stack.canaries)
    canaries["api key"] = key
    for name in ("subject", "body", "batch body", "team", "source path", "bad address"):
        canaries[name] = canary()
    canaries["junk request id"] = canary()
    canaries["unknown api key"] = canary() + "abcde"  # ofk_ + 43 characters: shaped like a key

    def enqueue(body: dict[str, Any], request_id: str, path: str = "enqueue") -> dict[str, Any]:
        response = client.post(
            f"{stack.url}/api/tasks/{path}", json=body, headers={"X-Request-ID": request_id}
        )
        assert response.status_code == 202, response.text
        assert response.headers["X-Request-ID"] == request_id
        return response.json()

    email = {"to": ["logs@example.com"], "subject": canaries["subject"], "body": canaries["body"]}
    single = enqueue({"task_name": "email.send_notification", "params": email}, "logs-single")
    batch_email = {**email, "body": canaries["batch body"]}
    batch = enqueue(
        {"tasks": [{"task_name": "email.send_notification", "params": batch_email}] * 2},
        "logs-batch",
        "enqueue/batch",
    )
    # Fails at once (nothing listens there; no retries): the failure path's lines.
    source = f"http://127.0.0.1:{free_port()}/{canaries['source path']}"
    failing = enqueue(
        {
            "task_name": "analytics.sync_metrics",
            "params": {"source_url": source, "team_id": canaries["team"]},
            "max_retries": 0,
        },
        "logs-failing",
    )
    tasks = {
        single["task_id"]: "logs-single",
        **{t["task_id"]: "logs-batch" for t in batch["tasks"]},
        failing["task_id"]: "logs-failing",
    }

    # Refused requests: a junk request id (never echoed), an unknown key, a bad param value.
    junk = client.get(
        f"{stack.url}/api/tasks/", headers={"X-Request-ID": f"junk {canaries['junk request id']}"}
    )
    assert junk.status_code == 200
    unknown = client.get(
        f"{stack.url}/api/tasks/",
        headers={"Authorization": f"Bearer ofk_{canaries['unknown api key']}"},
    )
    assert unknown.status_code == 401
    invalid = client.post(
        f"{stack.url}/api/tasks/enqueue",
        json={
            "task_name": "email.send_notification",
            "params": {**email, "to": [f"{canaries['bad address']}@@example"]},
        },
        headers={"X-Request-ID": "logs-invalid"},
    )
    assert invalid.status_code == 422

    def status(task_id: str) -> str:
        return client.get(f"{stack.url}/api/tasks/{task_id}").json()["status"]

    for task_id in tasks:
        wait_for(lambda t=task_id: status(t) in ("completed", "failed"), timeout=30)
    assert status(failing["task_id"]) == "failed"

    def task_lines_written() -> bool:
        parsed, _ = read_lines(stack.logs)
        seen = {line.get("task_id") for lines in parsed.values() for line in lines}
        return set(tasks) <= seen

    wait_for(task_lines_written, timeout=20)  # the worker's pipe to its log file
    return {
        "tenant": tenant,
        "tasks": tasks,
        "request_ids": {
            "logs-single", "logs-batch", "logs-failing", "logs-invalid",
            junk.headers["X-Request-ID"], unknown.headers["X-Request-ID"],
        },
        "canaries": canaries,
    }  # fmt: skip


def test_every_line_of_every_process_is_a_json_object_with_the_base_fields(stack, activity):
    parsed, not_json = read_lines(stack.logs)
    assert not_json == []
    assert set(parsed) == set(SERVICES)
    for name, lines in parsed.items():
        assert lines, f"{name} wrote nothing"
        for line in lines:
            assert line.keys() >= BASE_FIELDS, line
            assert line["service"] == SERVICES[name], line


def test_every_line_a_task_produced_names_the_task_its_attempt_and_its_request(stack, activity):
    parsed, _ = read_lines(stack.logs)
    tasks, tenant = activity["tasks"], activity["tenant"]
    by_task: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in tasks}
    for name in ("email", "analytics"):
        for line in parsed[name]:
            mentioned = [task_id for task_id in tasks if task_id in line["message"]]
            for task_id in mentioned:  # a line about one of these tasks is one of its lines
                assert line.get("task_id") == task_id, line
            if line.get("task_id") in by_task:
                by_task[line["task_id"]].append(line)
    for task_id, lines in by_task.items():
        assert lines, f"no line of task {task_id}"
        for line in lines:
            assert all(line.get(f) is not None for f in TASK_FIELDS), line
            assert line["tenant"] == tenant
            assert line["attempt"] == 1
            assert line["request_id"] == tasks[task_id]
    emails = [task_id for task_id, rid in tasks.items() if rid != "logs-failing"]
    for task_id in emails:
        assert {(x["task_name"], x["queue"]) for x in by_task[task_id]} == {
            ("email.send_notification", "email")
        }
        assert any("accepted" in x["message"] for x in by_task[task_id])  # the task's own line
    failing = next(task_id for task_id, rid in tasks.items() if rid == "logs-failing")
    assert {x["level"] for x in by_task[failing]} >= {"WARNING"}  # "... raised ..."
    assert {x["queue"] for x in by_task[failing]} == {"analytics"}


def test_every_api_request_line_carries_its_request_id(stack, activity):
    parsed, _ = read_lines(stack.logs)
    access = [line for line in parsed["api"] if line["logger"] == "offload_api.access"]
    assert access
    for line in access:
        assert line.get("request_id"), line
    ours = {line["request_id"] for line in access}
    assert activity["request_ids"] <= ours
    refused = [line for line in access if line["request_id"] == "logs-invalid"]
    assert [(x["method"], x["path"], x["status"]) for x in refused] == [
        ("POST", "/api/tasks/enqueue", 422)
    ]


def test_no_secret_or_param_appears_in_any_output(stack, activity):
    found = {
        what: path.name
        for path in sorted(stack.logs.glob("*.log"))
        for what, secret in activity["canaries"].items()
        if secret in path.read_text(encoding="utf-8", errors="replace")
    }
    assert found == {}
    # What was checked: the URLs' passwords where the servers let one through.
    assert {"api key", "subject", "body", "OFFLOAD_SMTP_PASSWORD"} <= activity["canaries"].keys()
