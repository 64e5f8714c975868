"""Event fan-out: an application reports what happened; a declarative rule set says which tasks
follow (seed 000's "on completed": confirmation email, PDF report, dashboard update).

Each rule is checked on its own, so one with bad params never stops the others: the outcome
lists what was created, skipped (a rule's requirement was absent) and failed (with the reason).
The tasks that follow are then recorded together, through the API's one enqueue path, so an
event retried with the same Idempotency-Key creates nothing new (and sends no second email).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from offload_shared.catalog import get_spec
from offload_shared.enqueue import NewTask, new_task
from offload_shared.errors import OffloadError
from offload_shared.models import Task

__all__ = [
    "RULES",
    "FanOut",
    "fan_out",
]

log = logging.getLogger(__name__)

Payload = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    kind: str
    task_name: str
    params: Callable[[Payload], dict[str, Any]]
    requires: tuple[str, ...] = ()


def _confirmation(event: Payload) -> dict[str, Any]:
    return {
        "record_id": event["record_id"],
        "recipient": event["recipient_email"],
        "record_title": event["record_title"],
        "record_summary": event["record_summary"],
    }


def _pdf(event: Payload) -> dict[str, Any]:
    return {
        "record_id": event["record_id"],
        "title": f"{event['record_title']} {event['record_id']}",
        "fields": event["record_summary"],
    }


RULES: Mapping[str, tuple[Rule, ...]] = {
    "record.completed": (
        Rule("email", "email.send_confirmation", _confirmation, requires=("recipient_email",)),
        Rule("report", "reports.generate_pdf", _pdf),
        Rule("analytics", "analytics.update_dashboard", lambda _: {}),
    ),
    "record.finalized": (
        Rule("email", "email.send_confirmation", _confirmation, requires=("recipient_email",)),
    ),
}


@dataclass
class FanOut:
    """What an event leads to: the tasks to create by kind, and the rules that did not apply
    (skipped) or could not (failed, with the reason)."""

    event: str
    news: dict[str, NewTask] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answer(self, tasks: Sequence[Task]) -> dict[str, Any]:
        """The API's response once `tasks` (one per planned kind, in order) are recorded."""
        ids = {kind: str(task.id) for kind, task in zip(self.news, tasks, strict=True)}
        return {"event": self.event, "tasks": ids, "skipped": self.skipped, "failed": self.failed}

    def not_recorded(self, err: OffloadError) -> dict[str, Any]:
        """The response when recording the tasks failed: each planned kind failed with it."""
        log.warning("event %s: %s task(s) not created: %s", self.event, len(self.news), err)
        failed = self.failed | {kind: {"reason": str(err)} for kind in self.news}
        return {"event": self.event, "tasks": {}, "skipped": self.skipped, "failed": failed}


def fan_out(tenant: str, event: Payload) -> FanOut:
    """The tasks the rules name for `event` (already validated by the API's schema), checked
    rule by rule so that one with bad params never stops the others. The caller records them
    together, through the one enqueue path (and its Idempotency-Key)."""
    outcome = FanOut(event["event"])
    for rule in RULES[event["event"]]:
        missing = [name for name in rule.requires if not event.get(name)]
        if missing:
            outcome.skipped[rule.kind] = f"no {', '.join(missing)} given"
            continue
        spec = get_spec(rule.task_name)
        try:
            params = spec.load_params(rule.params(event))
        except ValidationError as err:
            outcome.failed[rule.kind] = {"reason": "invalid params", "errors": err.messages}
        else:
            outcome.news[rule.kind] = new_task(spec, tenant, params)
    return outcome
