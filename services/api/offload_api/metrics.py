"""GET /metrics on the API (Prometheus text), and the request counts it carries.

Every request is counted by route (its URL rule, so one series per endpoint, not per task id),
method and status code, with its time in the app, refusals included (401, 413, 429...). The
scrape also carries the gauges read from Postgres (gauges.py) and, under granian's several
worker processes, every process's counts (metrics.py: one directory for them all, made by
serve.py).

The gauges are every tenant's, so no tenant's API key opens /metrics: it needs
`Authorization: Bearer <OFFLOAD_METRICS_TOKEN>`, and answers 404 while that is unset. The
workers' and the scheduler's health ports serve the same gauges without a token: they are
not exposed outside the cluster (deploy/k8s: the NetworkPolicies).
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, g, request

from offload_api.services import services
from offload_shared.errors import NotFound, Unauthenticated
from offload_shared.metrics import CONTENT_TYPE, counted, exposition

blp = Blueprint("metrics", __name__)
UNMATCHED = "unmatched"  # a request no route answers (404, 405): one series for them all


def init_app(app: Flask) -> None:
    """Count every request (call before the other hooks, so their refusals are timed too)."""
    app.before_request(_start)
    app.after_request(_count)
    app.register_blueprint(blp)


def _start() -> None:
    g.offload_began = time.perf_counter()


def _count(response: Response) -> Response:
    began = g.get("offload_began")
    if began is not None:
        endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        took = time.perf_counter() - began
        counted().request(endpoint, request.method, response.status_code, took)
    return response


@blp.get("/metrics")
def scrape() -> Response:
    svc = services()
    token = svc.settings.metrics_token
    if not token:
        raise NotFound("metrics are off: set OFFLOAD_METRICS_TOKEN to serve them")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise Unauthenticated("GET /metrics needs 'Authorization: Bearer <OFFLOAD_METRICS_TOKEN>'")
    return Response(exposition(svc.figures), content_type=CONTENT_TYPE)
