"""R8 and R13 on the real email worker: an SMTP server that never answers, and an email task
delivered twice."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from offload_dev.procs import free_port
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit
from offload_shared.store import TaskStore
from tests.conftest import wait_for
from tests.faults.harness import task_ids_in_hand
from tests.queues import message_ids
from tests.smtp_servers import Mailbox, Stalled

SEND = get_spec("email.send_notification")
SMTP_TIMEOUT = 2.0
FINISHED = ("completed", "failed", "cancelled")


class SilentServer:
    """Accepts every TCP connection and never sends a byte (no greeting, no replies)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def smtp_controllers() -> Iterator[list[Controller]]:
    started: list[Controller] = []
    yield started
    for controller in started:
        controller.stop()


def serve(handler, started: list[Controller]) -> int:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    started.append(controller)
    return controller.port


def finished(store: TaskStore, tenant: str, task_id):
    task = store.get(tenant, task_id)
    return task if task.status in FINISHED else None


@pytest.mark.timeout(60)
def test_r8_a_server_that_never_answers_fails_the_task_within_its_timeout(
    system, publisher, db, tenant, silent_server, smtp_controllers, figure
):
    store = TaskStore(db)
    params = SEND.load_params({"to": "ada@example.com", "subject": "hello", "body": "hi"})
    smtp_env = {
        "OFFLOAD_SMTP_HOST": "127.0.0.1",
        "OFFLOAD_SMTP_CONNECT_TIMEOUT": str(SMTP_TIMEOUT),
        "OFFLOAD_SMTP_TIMEOUT": str(SMTP_TIMEOUT),
    }
    outcomes = []
    # A server that accepts the connection and never greets (the connect timeout), then one
    # that greets and takes the message but never answers its end (the read timeout).
    for what, port in (
        ("no greeting", silent_server.port),
        ("no reply to DATA", serve(Stalled(), smtp_controllers)),
    ):
        worker = system.worker("email", OFFLOAD_SMTP_PORT=str(port), **smtp_env)
        task = submit(store, publisher, new_task(SEND, tenant, params, max_retries=0))
        done = wait_for(
            lambda task=task: finished(store, tenant, task.id), timeout=SMTP_TIMEOUT + 15
        )
        took = (done.completed_at - done.started_at).total_seconds()
        assert done.status == "failed", done
        assert "timed out" in (done.error_message or ""), done.error_message
        assert took <= SMTP_TIMEOUT + 1.5
        outcomes.append(f"{what}: failed after {took:.1f} s ({done.error_message})")
        system.kill(worker)
    figure(f"R8: SMTP timeout {SMTP_TIMEOUT:.0f} s, max_retries 0 — " + "; ".join(outcomes))


@pytest.mark.timeout(60)
def test_r13_an_email_task_delivered_twice_sends_one_email(
    system, publisher, db, redis_client, tenant, smtp_controllers, figure
):
    store = TaskStore(db)
    mailbox = Mailbox()
    port = serve(mailbox, smtp_controllers)
    task = submit(
        store,
        publisher,
        new_task(
            SEND,
            tenant,
            SEND.load_params({"to": "ada@example.com", "subject": "once", "body": "only once"}),
        ),
    )
    publisher.publish([task])  # the same message twice more, before any worker runs:
    publisher.publish([task])  # the queue keeps one message per task
    assert message_ids(redis_client, "email") == {str(task.id)}
    system.worker("email", OFFLOAD_SMTP_HOST="127.0.0.1", OFFLOAD_SMTP_PORT=str(port))

    def all_handled() -> bool:
        # Every copy fetched and acked: none left on the queue or in a consumer's hands.
        return not message_ids(redis_client, "email") and not task_ids_in_hand(redis_client)

    first = wait_for(lambda: finished(store, tenant, task.id), timeout=20)
    wait_for(all_handled, timeout=20)
    assert (first.status, first.attempts) == ("completed", 1)
    copies = len(mailbox.received)
    assert copies == 1

    # The outcome is lost (the worker died after the server accepted the email, before its
    # status write): the task is pending again and its message comes round once more.
    db.fetch_one(
        "UPDATE offload.tasks SET status = 'pending', result = NULL, completed_at = NULL "
        "WHERE id = %(id)s RETURNING id",
        {"id": task.id},
    )
    publisher.publish([task])
    again = wait_for(
        lambda: (t := finished(store, tenant, task.id)) and t.attempts == 2 and t, timeout=20
    )
    assert again.status == "completed"
    assert again.result == first.result
    sent_ids = [r.message["Message-ID"] for r in mailbox.received]
    assert sent_ids == [f"<{task.id}@offload>"]
    figure(
        f"R13: one email task published 3 times at once -> 1 message queued, {copies} email, "
        f"1 attempt; "
        f"redelivered after a lost outcome -> attempt {again.attempts} completed from the "
        f"delivery record, {len(mailbox.received)} email in all"
    )
