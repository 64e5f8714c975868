"""Event fan-out: an application reports what happened; a declarative rule set says which tasks
follow (seed 000's "on completed": confirmation email, PDF report, dashboard update).

Each task goes through the one enqueue path on its own, so a failure to create one never stops
the others: the outcome lists what was created, skipped (a rule's requirement was absent) and
failed (with the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit
from offload_shared.errors import OffloadError
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore

__all__ = [
    "RULES",
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
    tasks: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)


def fan_out(store: TaskStore, publisher: Publisher, tenant: str, event: Payload) -> FanOut:
    """Create the tasks the rules name for `event` (already validated by the API's schema)."""
    outcome = FanOut()
    for rule in RULES[event["event"]]:
        missing = [name for name in rule.requires if not event.get(name)]
        if missing:
            outcome.skipped[rule.kind] = f"no {', '.join(missing)} given"
            continue
        spec = get_spec(rule.task_name)
        try:
            params = spec.load_params(rule.params(event))
            task = submit(store, publisher, new_task(spec, tenant, params))
        except ValidationError as err:
            outcome.failed[rule.kind] = {"reason": "invalid params", "errors": err.messages}
        except OffloadError as err:
            log.warning("event %s: %s task not created: %s", event["event"], rule.kind, err)
            outcome.failed[rule.kind] = {"reason": str(err)}
        else:
            outcome.tasks[rule.kind] = str(task.id)
    return outcome
