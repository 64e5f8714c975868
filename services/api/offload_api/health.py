"""Probes: /healthz (the process is up) and /readyz (it can take tasks: Postgres answers).

Redis is reported by /readyz but does not make the API unready: while Redis is away, tasks wait
in the outbox and are published when it returns, so taking the API out of its load balancer
would only turn a delay into errors. A Redis that may evict keys (a maxmemory-policy other
than noeviction) is named in `checks.redis_eviction`.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from offload_api.auth import public
from offload_api.json_codec import Blueprint
from offload_api.schemas import HealthSchema
from offload_api.services import services
from offload_shared.errors import OffloadError

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


@blp.route("/healthz")
class Health(MethodView):
    @public
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok", "checks": {}}


@blp.route("/readyz")
class Ready(MethodView):
    @public
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="Postgres is unreachable")
    def get(self) -> tuple[dict[str, Any], int]:
        """Postgres is reachable (needed); Redis is reported ("degraded" when it is not)."""
        svc = services()
        checks = {}
        for name, ping in (("postgres", svc.db.ping), ("redis", svc.publisher.ping)):
            try:
                ping()
                checks[name] = "ok"
            except OffloadError as exc:
                checks[name] = str(exc)
        if checks["postgres"] != "ok":
            return {"status": "unavailable", "checks": checks}, 503
        if checks["redis"] == "ok":
            try:
                warning = svc.publisher.eviction_warning()
            except OffloadError as exc:
                warning = str(exc)
            if warning is not None:
                checks["redis_eviction"] = warning
        degraded = checks["redis"] != "ok"
        return {"status": "degraded" if degraded else "ok", "checks": checks}, 200
