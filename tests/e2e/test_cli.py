"""The installed `offload` command, as an operator runs it, against the real stack (the API,
the three workers, the scheduler and an SMTP server as processes): its output, its --json
output and its exit codes (0 done, 1 the API said no, 2 usage, 3 unreachable, 4 the task
failed, 5 --wait timed out)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from offload_dev.procs import free_port
from offload_shared import apikeys
from offload_shared.masking import MASK
from offload_shared.store import TaskStore
from tests.conftest import wait_for

OFFLOAD = str(Path(sys.executable).with_name("offload"))
UUID = 36


@pytest.fixture
def cli(stack, infra, db, tenant):
    """Run `offload ...` as the test tenant's operator: its API key (every scope) in the
    environment, and the database and Redis for the admin commands."""
    key = apikeys.create_key(db, tenant, scopes=["read", "enqueue", "admin"])
    env = {**os.environ, "OFFLOAD_API_URL": stack.url, "OFFLOAD_API_KEY": key,
           "DATABASE_URL": infra.database_url, "REDIS_URL": infra.redis_url}  # fmt: skip

    def run(*args: str, timeout: float = 60, **overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [OFFLOAD, *args], env=env | overrides, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    run.env = env  # type: ignore[attr-defined]
    return run


def email(subject: str, to: str = "ada@example.com") -> list[str]:
    return ["email.send_notification", "-p", f"to={to}", "-p", f"subject={subject}",
            "-p", "body=Hello"]  # fmt: skip


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def as_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(ok(result))


def lines(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in ok(result).splitlines()]


def test_enqueue_wait_follows_an_email_to_completed_and_sends_it(cli, stack):
    subject = f"cli {uuid.uuid4()}"
    done = as_json(cli("enqueue", *email(subject), "--priority", "9", "--wait", "--json"))
    assert (done["status"], done["priority"], done["progress"]) == ("completed", 9, 100)
    assert done["result"]["accepted"] == ["ada@example.com"]
    assert done["params"] == {"to": ["ada@example.com"], "subject": subject, "body": "Hello"}
    assert [r for r in stack.mailbox.received if r.message["Subject"] == subject]

    text = ok(cli("enqueue", *email("plain"), "--wait"))
    assert "status    completed" in text.splitlines()
    assert text.splitlines()[0].startswith("task      ")


def test_enqueue_without_wait_prints_the_id_and_params_parse_as_json_where_they_can(cli):
    params = '{"to": ["a@example.com"], "subject": "s"}'
    out = ok(cli("enqueue", "email.send_notification", "--params-json", params, "-p", "body=hi",
                 "--delay", "600"))  # fmt: skip
    assert out.startswith("enqueued email.send_notification as ")
    task_id = out.split()[3]
    assert len(task_id) == UUID
    shown = as_json(cli("status", task_id, "--json"))
    assert shown["status"] == "pending"
    # "42" parsed as JSON is the number 42, which a body (text) refuses; quoted it is text.
    refused = cli("enqueue", *email("s")[:-1], "body=42")
    assert refused.returncode == 1
    assert "json.params.body" in refused.stderr
    assert "Traceback" not in refused.stderr
    quoted = as_json(cli("enqueue", *email("s")[:-1], 'body="42"', "--delay", "600", "--json"))
    assert quoted["params"]["body"] == "42"


def test_a_failed_task_under_wait_exits_4_with_its_error(cli, stack):
    refused = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    stack.mailbox.rcpt[refused] = ["550 5.1.1 no such user"]
    result = cli("enqueue", *email("to nobody", to=refused), "--wait", "--json")
    assert result.returncode == 4, (result.stdout, result.stderr)
    task = json.loads(result.stdout)
    assert task["status"] == "failed"
    assert f"task {task['task_id']} failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_wait_past_its_timeout_exits_5(cli):
    result = cli("enqueue", *email("later"), "--delay", "600", "--wait", "--timeout", "1")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "still pending after 1 s" in result.stderr


def test_status_takes_the_start_of_an_id_and_refuses_unknown_ones(cli):
    task_id = as_json(cli("enqueue", *email("s"), "--delay", "600", "--json"))["task_id"]
    text = ok(cli("status", task_id[:8]))
    assert f"task      {task_id}" in text
    assert "status    pending" in text
    missing = cli("status", str(uuid.uuid4()))
    assert missing.returncode == 1
    assert "404 Not Found" in missing.stderr
    assert cli("status", "ffffffff-ffff").returncode == 1  # no task starts so
    bad = cli("status", "not-an-id")
    assert bad.returncode == 2
    assert "not a task id" in bad.stderr


def test_status_masks_secrets_in_params_as_the_dashboard_does(cli):
    source = "https://metrics:hunter2@metrics.example.com/v1"
    enqueued = cli("enqueue", "analytics.sync_metrics", "--param", f"source_url={source}",
                   "--param", "team_id=t1", "--delay", "600", "--json")  # fmt: skip
    task_id = as_json(enqueued)["task_id"]
    text = ok(cli("status", task_id))
    shown = as_json(cli("status", task_id, "--json"))
    assert "hunter2" not in text + json.dumps(shown)
    assert f"https://{MASK}@metrics.example.com/v1" in text
    assert shown["params"]["source_url"] == f"https://{MASK}@metrics.example.com/v1"
    assert shown["params"]["team_id"] == "t1"


def test_list_prints_a_table_and_json_lines_filtered(cli):
    emails = [as_json(cli("enqueue", *email(f"l{i}"), "--delay", "600", "--json"))
              for i in range(3)]  # fmt: skip
    ok(cli("enqueue", "analytics.update_dashboard", "--delay", "600"))
    header, *rows = ok(cli("list", "--queue", "email", "--status", "pending")).splitlines()
    assert header.split() == ["ID", "TASK", "STATUS", "PRIORITY", "PROGRESS", "ATTEMPTS",
                              "CREATED", "FINISHED"]  # fmt: skip
    assert [r.split()[0] for r in rows] == [t["task_id"] for t in reversed(emails)]  # newest first
    listed = lines(cli("list", "--limit", "2", "--json"))
    assert len(listed) == 2
    assert listed[0]["task_name"] == "analytics.update_dashboard"
    assert lines(cli("list", "--task-name", "email.send_notification", "--since", "1h",
                     "--json"))[0]["task_id"] == emails[-1]["task_id"]  # fmt: skip
    assert cli("list", "--status", "lost").returncode == 2
    assert cli("list", "--since", "soon").returncode == 2


def test_cancel_a_pending_task_then_again_is_a_conflict(cli):
    task_id = as_json(cli("enqueue", *email("c"), "--delay", "600", "--json"))["task_id"]
    assert ok(cli("cancel", task_id)).strip() == f"cancelled task {task_id}"
    assert as_json(cli("status", task_id, "--json"))["status"] == "cancelled"
    again = cli("cancel", task_id)
    assert again.returncode == 1
    assert "409 Conflict" in again.stderr
    retried = as_json(cli("retry", task_id, "--json"))
    assert retried["status"] == "pending"


def test_bulk_cancel_and_retry_count_first_then_change_every_match(cli):
    ids = [as_json(cli("enqueue", *email(f"b{i}"), "--delay", "600", "--json"))["task_id"]
           for i in range(4)]  # fmt: skip
    dry = as_json(cli("cancel", "--queue", "email", "--since", "1h", "--dry-run", "--json"))
    assert dry == {"matched": 4, "changed": 0, "dry_run": True}
    out = ok(cli("cancel", "--queue", "email", "--since", "1h"))
    assert out.strip() == "cancel: 4 of 4 task(s) changed"
    assert {as_json(cli("status", i, "--json"))["status"] for i in ids} == {"cancelled"}
    assert ok(cli("retry", "--status", "cancelled", "--dry-run")).strip() == "would retry 4 task(s)"
    retried = as_json(cli("retry", "--status", "cancelled", "--json"))
    assert retried == {"matched": 4, "changed": 4, "dry_run": False}
    # Sent round at once, without the delay: the email worker sends them.
    wait_for(lambda: {as_json(cli("status", i, "--json"))["status"] for i in ids} == {"completed"})
    both = cli("retry", ids[0], "--status", "failed")
    assert both.returncode == 2
    neither = cli("retry")
    assert neither.returncode == 2
    assert "--all" in neither.stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_tail_follows_new_transitions_live_and_ctrl_c_exits_0(cli, json_output):
    args = [OFFLOAD, "tail", *(["--json"] if json_output else [])]
    with subprocess.Popen(args, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as tail:  # fmt: skip
        found: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [found.put(line) for line in tail.stdout])
        reader.start()
        # tail starts at the newest event: the task is enqueued once it says it follows.
        assert tail.stderr.readline().startswith("following transitions after event ")
        task_id = as_json(cli("enqueue", *email("tail"), "--json"))["task_id"]
        seen: list[str] = []

        def transitions() -> list[str]:
            while not found.empty():
                seen.append(found.get())
            return [line for line in seen if task_id in line]

        try:
            wait_for(lambda: len(transitions()) >= 3, timeout=30)
            tail.send_signal(signal.SIGINT)
            assert tail.wait(timeout=10) == 0
        finally:
            if tail.poll() is None:
                tail.kill()
            reader.join(timeout=10)
        assert "Traceback" not in tail.stderr.read()
    mine = transitions()
    if json_output:
        events = [json.loads(line) for line in mine]
        assert [e["status"] for e in events] == ["pending", "running", "completed"]
        assert events[0]["event_id"] < events[1]["event_id"] < events[2]["event_id"]
        assert {e["task_name"] for e in events} == {"email.send_notification"}
    else:
        assert [line.split()[5] for line in mine] == ["pending", "running", "completed"]
        assert mine[0].split()[2] == task_id


def test_stats_and_workers_show_the_queues_and_the_running_workers(cli):
    ok(cli("enqueue", *email("stats"), "--wait"))
    header, *rows = ok(cli("stats")).splitlines()
    assert header.split()[:5] == ["QUEUE", "READY", "DELAYED", "WAITING", "RUNNING"]
    assert {r.split()[0] for r in rows} >= {"email", "reports", "analytics"}
    stats = as_json(cli("stats", "--json"))
    email_q = next(q for q in stats["queues"] if q["queue"] == "email")
    assert email_q["completed_last_hour"] == 1
    assert email_q["throughput"]["completed_per_minute"] > 0

    workers = lines(cli("workers", "--json"))
    alive = {w["queue"] for w in workers if w["alive"]}
    assert {"email", "reports", "analytics"} <= alive
    assert all(w["running"] == [] for w in workers)  # this tenant runs nothing now
    header, *rows = ok(cli("workers")).splitlines()
    assert header.split()[:4] == ["WORKER", "QUEUE", "HOST", "PID"]
    assert any(" alive " in r for r in rows)


def test_schedules_over_the_api_list_pause_resume_and_run_now_by_name(cli, db, tenant):
    ok(cli("schedules", "install-defaults", "--tenant", tenant))
    listed = {s["name"]: s for s in lines(cli("schedules", "list", "--json"))}
    assert set(listed) == {"cleanup-old-records", "update-dashboard"}
    paused = as_json(cli("schedules", "pause", "update-dashboard", "--json"))
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    assert "resumed" in ok(cli("schedules", "resume", str(listed["update-dashboard"]["id"])))
    run = as_json(cli("schedules", "run-now", "update-dashboard", "--json"))
    assert run["manual"] is True
    assert run["task_id"]
    assert cli("schedules", "pause", "no-such-schedule").returncode == 1
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [tenant])


def test_cleanup_dry_run_counts_and_the_real_one_deletes_through_the_worker(cli, db, tenant):
    old = [as_json(cli("enqueue", *email(f"old{i}"), "--wait", "--json"))["task_id"]
           for i in range(2)]  # fmt: skip
    recent = as_json(cli("enqueue", *email("recent"), "--wait", "--json"))["task_id"]
    db.fetch_all(
        "UPDATE offload.tasks SET completed_at = now() - interval '100 days' "
        "WHERE id = ANY(%(ids)s::uuid[]) RETURNING id",
        {"ids": old},
    )
    dry = as_json(cli("cleanup", "--tenant", tenant, "--days-to-keep", "90", "--dry-run", "--json"))
    assert (dry["tasks"], dry["dry_run"]) == (2, True)
    text = ok(cli("cleanup", "--tenant", tenant, "--dry-run"))
    assert "2 finished task(s)" in text
    assert TaskStore(db).get(tenant, uuid.UUID(old[0]))  # a dry run deletes nothing

    done = ok(cli("cleanup", "--tenant", tenant, "--days-to-keep", "90", "--wait"))
    assert "completed: deleted 2 task(s)" in done
    assert as_json(cli("status", recent, "--json"))["status"] == "completed"
    gone = cli("status", old[0])
    assert gone.returncode == 1
    assert cli("cleanup", "--tenant", tenant, "--days-to-keep", "0", "--dry-run").returncode == 2


def test_an_unreachable_api_or_database_exits_3_and_a_bad_key_exits_1(cli):
    closed = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["status", str(uuid.uuid4())], ["stats"], ["tail"]):
        result = cli(*args, OFFLOAD_API_URL=closed)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.startswith("offload: cannot reach the API at ")
    key = cli("list", OFFLOAD_API_KEY="ofk_" + "x" * 43)
    assert key.returncode == 1
    assert "401 Unauthorized" in key.stderr
    assert "ofk_" not in key.stderr
    db = cli("cleanup", "--tenant", "t", "--dry-run",
             DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none")  # fmt: skip
    assert db.returncode == 3, db.stderr
    assert len(db.stderr.strip().splitlines()) == 1


def test_help_documents_every_command_and_the_exit_codes(cli):
    text = ok(cli("--help"))
    for command in ("enqueue", "status", "list", "cancel", "retry", "tail", "stats", "workers",
                    "cleanup", "schedules", "migrate", "api-key"):  # fmt: skip
        assert f"\n  {command} " in text, command
    for code in range(6):
        assert f"\n    {code}  " in text
    assert cli("no-such-command").returncode == 2
    assert cli("enqueue").returncode == 2
