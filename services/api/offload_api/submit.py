"""The one way a view turns a validated request into a task: record it, publish it."""

from __future__ import annotations

from typing import Any

from offload_api.auth import tenant
from offload_api.services import services
from offload_shared.enqueue import new_task, submit
from offload_shared.models import Task


def enqueue_request(req: dict[str, Any]) -> Task:
    """`req` carries `spec`, validated `params` and optional `priority` / `max_retries`."""
    svc = services()
    new = new_task(
        req["spec"],
        tenant(),
        req["params"],
        priority=req.get("priority"),
        max_retries=req.get("max_retries"),
    )
    return submit(svc.store, svc.publisher, new)
