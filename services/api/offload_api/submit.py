"""The one way a view turns validated requests into tasks: record them, publish them.

Every endpoint that creates tasks (the enqueue ones and POST /api/events) honours an
`Idempotency-Key` header: the same key with the same request replays the first response (and
creates nothing); with a different request it is a 422.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import abort

from offload_api import request_id
from offload_api.auth import tenant
from offload_api.schemas import OPTIONS, BatchEnqueuedSchema, TaskSchema
from offload_api.services import services
from offload_shared.enqueue import NewTask, new_task, publish
from offload_shared.models import Task
from offload_shared.store import IdempotencyKey, Replay

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def enqueue_request(req: dict[str, Any]) -> Task | Response:
    """`req` carries `spec`, validated `params` and optional priority/max_retries/delay."""
    tasks = _enqueue([req], lambda tasks: TaskSchema().dump(tasks[0]))
    return tasks if isinstance(tasks, Response) else tasks[0]


def enqueue_batch(reqs: list[dict[str, Any]]) -> dict[str, Any] | Response:
    """Many tasks at once: one statement records them all (or none), one round trip
    publishes them."""
    schema = BatchEnqueuedSchema()
    tasks = _enqueue(reqs, lambda tasks: schema.dump(_batch_answer(tasks)))
    return tasks if isinstance(tasks, Response) else _batch_answer(tasks)


def _batch_answer(tasks: list[Task]) -> dict[str, Any]:
    return {"count": len(tasks), "tasks": tasks}


def _enqueue(
    reqs: list[dict[str, Any]], response_of: Callable[[list[Task]], dict[str, Any]]
) -> list[Task] | Response:
    options = [{k: req.get(k) for k in OPTIONS} for req in reqs]
    news = [
        new_task(req["spec"], tenant(), req["params"], **opts)
        for req, opts in zip(reqs, options, strict=True)
    ]

    def canonical() -> dict[str, Any]:  # only for a request with an Idempotency-Key
        return {
            "tasks": [
                {"task_name": req["spec"].name, "params": req["params"], "options": opts}
                for req, opts in zip(reqs, options, strict=True)
            ]
        }

    return record(news, canonical, response_of)


def record(
    news: list[NewTask],
    request_body: Callable[[], dict[str, Any]],
    response_of: Callable[[list[Task]], dict[str, Any]],
) -> list[Task] | Response:
    """Record `news` (all or none) and publish them, once per Idempotency-Key if the request
    has one: `request_body()` (validated, canonical; built only then) is what a retry must
    repeat, `response_of` the answer a retry replays. Nothing to record means nothing to
    remember."""
    svc = services()
    rid = request_id.current()
    news = [dataclasses.replace(new, request_id=rid) for new in news]
    key = request.headers.get(HEADER)
    if key is None or not news:
        if key is not None:
            _idempotency(key, request_body)  # a malformed header is a 422 all the same
        tasks = svc.store.create_many(news) if news else []
    else:
        outcome = svc.store.create_once(news, _idempotency(key, request_body), response_of)
        if isinstance(outcome, Replay):
            return _replay(outcome)
        tasks = outcome
    publish(svc.publisher, tasks)
    return tasks


def _idempotency(key: str, request_body: Callable[[], dict[str, Any]]) -> IdempotencyKey:
    if not KEY_PATTERN.match(key):
        abort(422, errors={"headers": {HEADER: ["1-255 visible ASCII characters"]}})
    canonical = json.dumps(
        {"endpoint": request.path, **request_body()}, sort_keys=True, default=str
    )
    return IdempotencyKey(key, hashlib.sha256(canonical.encode()).hexdigest())


def _replay(replay: Replay) -> Response:
    if not replay.same_request:
        abort(422, errors={"headers": {HEADER: ["already used with a different request"]}})
    response = jsonify(replay.response)
    response.status_code = 202
    response.headers["Idempotent-Replayed"] = "true"
    return response
