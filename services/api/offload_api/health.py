"""Probes: /healthz (the process is up) and /readyz (Postgres and Redis answer)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from offload_api.schemas import HealthSchema
from offload_api.services import services
from offload_shared.errors import OffloadError

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok", "checks": {}}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="A dependency is unreachable")
    def get(self) -> tuple[dict[str, Any], int]:
        """Postgres and Redis are reachable."""
        svc = services()
        checks = {}
        for name, ping in (("postgres", svc.db.ping), ("redis", svc.publisher.ping)):
            try:
                ping()
                checks[name] = "ok"
            except OffloadError as exc:
                checks[name] = str(exc)
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
