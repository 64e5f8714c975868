"""R11: fifty concurrent enqueues over HTTP with one Idempotency-Key create exactly one task."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.faults.harness import status_counts
from tests.queues import message_ids

CLIENTS = 50


@pytest.mark.timeout(60)
def test_r11_one_idempotency_key_fifty_concurrent_requests_one_task(
    system, db, redis_client, tenant, api_key, figure
):
    url = system.api()
    body = {
        "task_name": "email.send_notification",
        "params": {"to": "ada@example.com", "subject": "Welcome", "body": "Hello Ada"},
    }
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"signup-{tenant}"}
    barrier = threading.Barrier(CLIENTS)

    def enqueue(_: int) -> requests.Response:
        with requests.Session() as session:
            session.get(f"{url}/healthz", timeout=10)  # connect before the barrier
            barrier.wait(timeout=20)
            return session.post(f"{url}/api/tasks/enqueue", json=body, headers=headers, timeout=20)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(enqueue, range(CLIENTS)))
    elapsed = time.monotonic() - started

    assert [a.status_code for a in answers] == [202] * CLIENTS, [a.text for a in answers]
    task_ids = {a.json()["task_id"] for a in answers}
    replayed = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)
    assert len(task_ids) == 1
    assert replayed == CLIENTS - 1
    assert status_counts(db, tenant) == {"pending": 1}
    assert message_ids(redis_client, "email") == task_ids  # one message
    figure(
        f"R11: {CLIENTS} concurrent enqueues with one Idempotency-Key in {elapsed:.1f} s: "
        f"all 202, {len(task_ids)} task_id, {replayed} replayed answers, 1 task row, "
        f"1 message published"
    )
