"""/api/events: report what happened; the rule set creates the tasks that follow."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.schemas import EventOutcomeSchema, EventSchema
from offload_api.services import services
from offload_shared.fanout import fan_out

blp = Blueprint("events", __name__, url_prefix="/api/events", description="Event fan-out")


@blp.route("")
class Events(MethodView):
    @requires("enqueue")
    @blp.arguments(EventSchema())
    @blp.response(202, EventOutcomeSchema)
    def post(self, event: dict[str, Any]) -> dict[str, Any]:
        """Create the tasks an event's rules name; one failing never stops the others.

        `record.completed`: a confirmation email (only if recipient_email is given), a PDF
        report and a dashboard update. `record.finalized`: a confirmation email.
        """
        svc = services()
        outcome = fan_out(svc.store, svc.publisher, tenant(), event)
        return {"event": event["event"], **outcome.__dict__}
