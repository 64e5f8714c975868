"""The one way a view turns a validated request into a task: record it, publish it.

Every enqueue endpoint honours an `Idempotency-Key` header: the same key with the same request
replays the first response (and creates nothing); with a different request it is a 422.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import abort

from offload_api.auth import tenant
from offload_api.schemas import TaskSchema
from offload_api.services import services
from offload_shared.enqueue import new_task, publish
from offload_shared.models import Task
from offload_shared.store import IdempotencyKey, Replay

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def enqueue_request(req: dict[str, Any]) -> Task | Response:
    """`req` carries `spec`, validated `params` and optional priority/max_retries/delay."""
    svc = services()
    new = new_task(
        req["spec"],
        tenant(),
        req["params"],
        priority=req.get("priority"),
        max_retries=req.get("max_retries"),
        delay_seconds=req.get("delay_seconds"),
    )
    key = request.headers.get(HEADER)
    if key is None:
        task = svc.store.create(new)
    else:
        outcome = svc.store.create_once(
            [new], _idempotency(key, req), lambda tasks: TaskSchema().dump(tasks[0])
        )
        if isinstance(outcome, Replay):
            return _replay(outcome)
        [task] = outcome
    publish(svc.publisher, [task])
    return task


def _idempotency(key: str, req: dict[str, Any]) -> IdempotencyKey:
    if not KEY_PATTERN.match(key):
        abort(422, errors={"headers": {HEADER: ["1-255 visible ASCII characters"]}})
    canonical = json.dumps(
        {
            "endpoint": request.path,
            "task_name": req["spec"].name,
            "params": req["params"],
            "options": {k: req.get(k) for k in ("priority", "max_retries", "delay_seconds")},
        },
        sort_keys=True,
        default=str,
    )
    return IdempotencyKey(key, hashlib.sha256(canonical.encode()).hexdigest())


def _replay(replay: Replay) -> Response:
    if not replay.same_request:
        abort(422, errors={"headers": {HEADER: ["already used with a different request"]}})
    response = jsonify(replay.response)
    response.status_code = 202
    response.headers["Idempotent-Replayed"] = "true"
    return response
