"""POST /api/reports (seed 004): a thin wrapper over the one enqueue path."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from offload_api.auth import requires
from offload_api.json_codec import Blueprint
from offload_api.schemas import ReportRequestSchema, TaskSchema
from offload_api.submit import enqueue_request
from offload_shared.models import Task

blp = Blueprint("reports", __name__, url_prefix="/api/reports", description="Reports")


@blp.route("")
class Reports(MethodView):
    @requires("enqueue")
    @blp.arguments(ReportRequestSchema())
    @blp.response(202, TaskSchema)
    def post(self, req: dict[str, Any]) -> Task | Response:
        """Generate a report: `format` excel or pdf, and that task's `params`."""
        return enqueue_request(req)
