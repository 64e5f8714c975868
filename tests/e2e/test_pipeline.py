"""A new user's first minutes: every kind of task from HTTP through Redis into Postgres."""

from __future__ import annotations

import http.client
import io
import time
import uuid
from urllib.parse import unquote, urlsplit

import openpyxl
import psycopg
import pytest
import redis

from tests.conftest import wait_for
from tests.queues import message_ids

FINISHED = {"completed", "failed", "cancelled"}


def enqueue(client, stack, body):
    response = client.post(f"{stack.url}/api/tasks/enqueue", json=body, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()


def wait_finished(client, stack, task_id, timeout=30):
    def done():
        task = client.get(f"{stack.url}/api/tasks/{task_id}", timeout=5).json()
        return task if task["status"] in FINISHED else None

    return wait_for(done, timeout=timeout)


def test_email_task_sends_a_real_email(stack, tenant):
    client = stack.client(tenant)
    subject = f"Welcome {uuid.uuid4().hex[:6]}"
    task = enqueue(
        client,
        stack,
        {
            "task_name": "email.send_notification",
            "params": {
                "to": "new.user@example.com",
                "subject": subject,
                "body": "Hello from Offload",
            },
        },
    )
    done = wait_finished(client, stack, task["task_id"])
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["accepted"] == ["new.user@example.com"]

    [received] = [r for r in stack.mailbox.received if r.message["Subject"] == subject]
    message = received.message
    assert received.rcpt_tos == ["new.user@example.com"]
    assert message["From"] == "offload@example.com"
    assert message["To"] == "new.user@example.com"
    assert message["Subject"] == subject
    assert message["Message-ID"] == f"<{task['task_id']}@offload>" == done["result"]["message_id"]
    assert message.get_content().strip() == "Hello from Offload"


def test_report_task_produces_an_excel_file_with_the_rows(stack, tenant):
    client = stack.client(tenant)
    rows = [["Alice", 3, 2.5, True], ["=cmd|' /C calc'!A0", None, -1, False]]
    task = enqueue(
        client,
        stack,
        {
            "task_name": "reports.generate_excel",
            "params": {"report_name": "q3 sales", "columns": ["who", "n", "x", "ok"], "rows": rows},
        },
    )
    done = wait_finished(client, stack, task["task_id"])
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["rows"] == 2

    download = client.get(f"{stack.url}{done['result']['download']}", timeout=5)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"q3 sales.xlsx\"; filename*=UTF-8''q3%20sales.xlsx"
    )
    assert download.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(download.content))
    assert book.sheetnames == ["Data", "Summary"]
    assert [list(r) for r in book["Data"].iter_rows(values_only=True)] == [
        ["who", "n", "x", "ok"],
        ["Alice", 3, 2.5, True],
        ["'=cmd|' /C calc'!A0", None, -1, False],  # neutralised: never a formula
    ]
    assert all(c.data_type != "f" for sheet in book for row in sheet.iter_rows() for c in row)


def test_a_report_named_in_another_script_downloads_under_its_name_and_opens(stack, tenant):
    """Header values are Latin-1 at best: the name travels as RFC 5987 UTF-8, with an ASCII
    fallback, through the real HTTP server."""
    client = stack.client(tenant)
    name = "Отчёт продажи 2026 報告"
    task = enqueue(
        client,
        stack,
        {
            "task_name": "reports.generate_excel",
            "params": {"report_name": name, "columns": ["город"], "rows": [["Київ"]]},
        },
    )
    done = wait_finished(client, stack, task["task_id"])
    assert done["status"] == "completed", done["error_message"]
    download = client.get(f"{stack.url}{done['result']['download']}", timeout=5)
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"2026.xlsx\"; filename*=UTF-8''")
    assert unquote(disposition.split("''", 1)[1]) == f"{name}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(download.content))
    assert [list(r) for r in book["Data"].iter_rows(values_only=True)] == [["город"], ["Київ"]]


def test_dashboard_numbers_equal_an_independent_count(stack, tenant, infra):
    client = stack.client(tenant)
    email_task = enqueue(
        client,
        stack,
        {
            "task_name": "email.send_notification",
            "params": {"to": "a@example.com", "subject": "s", "body": "b"},
        },
    )
    report = enqueue(
        client,
        stack,
        {
            "task_name": "reports.generate_excel",
            "params": {"report_name": "r", "columns": ["a"], "rows": [[1]]},
        },
    )
    cancelled = enqueue(  # delayed, so no worker can take it before the cancel lands
        client,
        stack,
        {
            "task_name": "reports.generate_excel",
            "params": {"report_name": "r", "columns": ["a"], "rows": []},
            "delay_seconds": 600,
        },
    )
    client.post(f"{stack.url}/api/tasks/{cancelled['task_id']}/cancel", timeout=5)
    for task in (email_task, report):
        wait_finished(client, stack, task["task_id"])

    dashboard = enqueue(client, stack, {"task_name": "analytics.update_dashboard"})
    result = wait_finished(client, stack, dashboard["task_id"])["result"]

    with psycopg.connect(infra.database_url) as conn:
        counted = conn.execute(
            "SELECT task_type, status, count(*) FROM offload.tasks WHERE tenant = %s GROUP BY 1, 2",
            (tenant,),
        ).fetchall()
        mean = conn.execute(
            "SELECT avg(extract(epoch FROM completed_at - started_at)) FROM offload.tasks"
            " WHERE tenant = %s AND status = 'completed' AND id <> %s",
            (tenant, dashboard["task_id"]),
        ).fetchone()[0]
    expected: dict[str, dict[str, int]] = {}
    for task_type, status, n in counted:
        expected.setdefault(task_type, {})[status] = n
    # When the dashboard counted, its own task was still running.
    expected["analytics"] = {"running": 1}

    by_type = {t: {s: n for s, n in c.items() if n} for t, c in result["by_type"].items()}
    assert by_type == expected
    assert result["total"] == 4
    assert result["by_status"]["completed"] == 2
    assert result["mean_duration_seconds"] == pytest.approx(float(mean), rel=1e-6)


def test_a_cancelled_pending_task_never_runs(stack, tenant, infra):
    client = stack.client(tenant)
    body = {
        "task_name": "email.send_notification",
        "params": {"to": "a@example.com", "subject": f"cancel-me {uuid.uuid4()}", "body": "b"},
    }
    stack.pause("email")
    try:
        doomed = enqueue(client, stack, body)
        cancel = client.post(f"{stack.url}/api/tasks/{doomed['task_id']}/cancel", timeout=5)
        assert cancel.status_code == 200
        assert cancel.json()["status"] == "cancelled"
        marker = enqueue(client, stack, {**body, "params": {**body["params"], "subject": "after"}})
    finally:
        stack.resume("email")

    queue = redis.Redis.from_url(infra.redis_url)
    wait_for(lambda: wait_finished(client, stack, marker["task_id"]))
    # Cancelling took its message back at once: it never reached the worker.
    assert doomed["task_id"] not in message_ids(queue, "email")
    after = client.get(f"{stack.url}/api/tasks/{doomed['task_id']}", timeout=5).json()
    assert (after["status"], after["attempts"], after["started_at"]) == ("cancelled", 0, None)
    assert not [
        r for r in stack.mailbox.received if r.message["Subject"] == body["params"]["subject"]
    ]
    finished = client.post(f"{stack.url}/api/tasks/{marker['task_id']}/cancel", timeout=5)
    assert finished.status_code == 409


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"data": b"{oops", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"task_name": "email.unknown"}}, 422),
        ({"json": {"task_name": "email.send_notification", "params": {"to": "nobody"}}}, 422),
        ({"json": {"task_name": "reports.generate_excel", "params": {"report_name": "x"}}}, 422),
        (
            {
                "data": b"[" + b"1," * 600_000 + b"1]",
                "headers": {"Content-Type": "application/json"},
            },
            413,
        ),
        (
            {
                "json": {"task_name": "analytics.update_dashboard"},
                "headers": {"Authorization": "Bearer ofk_not-a-key"},
            },
            401,
        ),
    ],
    ids=[
        "malformed-json",
        "unknown-task",
        "bad-email-params",
        "bad-report-params",
        "too-large",
        "bad-key",
    ],
)
def test_bad_input_over_http_gets_its_error_and_leaves_nothing(stack, tenant, kwargs, code):
    client = stack.client(tenant)
    response = client.post(f"{stack.url}/api/tasks/enqueue", timeout=5, **kwargs)
    assert response.status_code == code
    assert response.json()["code"] == code
    count = client.get(f"{stack.url}/api/tasks/count/all", timeout=5).json()
    assert count == {"count": 0}


def test_another_tenant_cannot_see_a_task(stack, tenant):
    owner = stack.client(tenant)
    task = enqueue(owner, stack, {"task_name": "analytics.update_dashboard"})
    stranger = stack.client(f"stranger-{uuid.uuid4().hex[:6]}")
    assert stranger.get(f"{stack.url}/api/tasks/{task['task_id']}", timeout=5).status_code == 404
    assert stranger.get(f"{stack.url}/api/tasks/", timeout=5).json()["total"] == 0


def test_an_idle_keep_alive_connection_is_still_open_seconds_later(stack):
    """Client pools keep connections idle between requests; the API must not close them
    after a couple of seconds (gunicorn's 2 s did, and most requests then had to be resent)."""
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read()
        local = conn.sock.getsockname()
        time.sleep(3)  # the scenario: the connection idles in a client's pool
        conn.request("GET", "/healthz")  # raises RemoteDisconnected if the server closed it
        response = conn.getresponse()
        assert response.status == 200
        assert conn.sock.getsockname() == local  # the same connection, not a new one
    finally:
        conn.close()
