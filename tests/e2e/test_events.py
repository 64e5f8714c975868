"""Seed 000's "on completed" hook, end to end: one event, three real tasks in three workers."""

from __future__ import annotations

import io

from pypdf import PdfReader

from tests.e2e.test_pipeline import wait_finished


def test_record_completed_sends_the_confirmation_builds_the_pdf_and_updates_the_dashboard(
    stack, tenant
):
    client = stack.client(tenant)
    response = client.post(
        f"{stack.url}/api/events",
        timeout=5,
        json={
            "event": "record.completed",
            "record_id": "FIR-2026-0042",
            "recipient_email": "complainant@example.com",
            "record_title": "FIR",
            "record_summary": {"station": "Central <b>HQ</b>", "offence": "theft"},
        },
    )
    assert response.status_code == 202
    tasks = response.json()["tasks"]
    assert set(tasks) == {"email", "report", "analytics"}
    done = {kind: wait_finished(client, stack, task_id) for kind, task_id in tasks.items()}
    assert {kind: t["status"] for kind, t in done.items()} == dict.fromkeys(tasks, "completed")

    [received] = [r for r in stack.mailbox.received if "FIR-2026-0042" in r.message["Subject"]]
    message = received.message
    assert received.rcpt_tos == ["complainant@example.com"]
    assert message["Subject"] == "Confirmation: FIR FIR-2026-0042"
    html = message.get_body(("html",)).get_content()
    assert "Central &lt;b&gt;HQ&lt;/b&gt;" in html

    pdf = client.get(f"{stack.url}/api/tasks/{tasks['report']}/artifact", timeout=5)
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("FIR FIR-2026-0042", "station", "Central <b>HQ</b>", "offence", "theft"):
        assert expected in text

    latest = client.get(f"{stack.url}/api/analytics/dashboard", timeout=5).json()
    assert latest["task_id"] == tasks["analytics"]
    assert latest["data"]["total"] == 3  # the event's three tasks, whatever their state then
