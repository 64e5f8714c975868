"""/api/events: report what happened; the rule set creates the tasks that follow."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from offload_api.auth import requires, tenant
from offload_api.json_codec import Blueprint
from offload_api.schemas import EventOutcomeSchema, EventSchema
from offload_api.submit import record
from offload_api.tasks import IDEMPOTENCY_HEADER
from offload_shared.errors import OffloadError
from offload_shared.fanout import fan_out

blp = Blueprint("events", __name__, url_prefix="/api/events", description="Event fan-out")


@blp.route("")
class Events(MethodView):
    @requires("enqueue")
    @blp.arguments(EventSchema())
    @blp.response(202, EventOutcomeSchema)
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    def post(self, event: dict[str, Any]) -> dict[str, Any] | Response:
        """Create the tasks an event's rules name; one with bad params never stops the others.

        `record.completed`: a confirmation email (only if recipient_email is given), a PDF
        report and a dashboard update. `record.finalized`: a confirmation email.
        """
        plan = fan_out(tenant(), event)
        schema = EventOutcomeSchema()
        try:
            tasks = record(
                list(plan.news.values()),
                lambda: {"event": event},
                lambda ts: schema.dump(plan.answer(ts)),
            )
        except OffloadError as err:  # Postgres refused: every planned task failed with it
            return plan.not_recorded(err)
        return tasks if isinstance(tasks, Response) else plan.answer(tasks)
