"""The items of a metrics document, and the rules that decide which are stored (pure).

The document is a JSON list of objects, or an object whose "metrics" key holds that list.
Each item is stored whole (as jsonb), keyed by its "id":

- "id" must be a non-empty string (at most 200 characters) or an integer; it becomes the
  external_id (as text: 7 and "7" are the same item). An item without a usable id, one that is
  not an object, or one holding a NUL character (Postgres jsonb cannot store it) is skipped as
  "invalid".
- "team_id", when present, must be a string or an integer (as text), else the item is invalid.
- With a team_id parameter, the sync is about that team: items of another team are skipped as
  "other_team"; items without a team_id are labelled with it. Without the parameter, each item
  keeps its own team_id (or none).
- When one id appears more than once, the last occurrence wins; earlier ones are skipped as
  "duplicate".
- data_sha256 is the SHA-256 of the item's canonical JSON (sorted keys, no spaces), so the
  same content is recognised whatever its key order.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from offload_shared.errors import PermanentTaskError

MAX_ID_CHARS = 200
MAX_TEAM_CHARS = 100
SKIP_REASONS = ("unchanged", "other_team", "invalid", "duplicate")


@dataclass(frozen=True)
class MetricItem:
    external_id: str
    team_id: str | None
    data: dict[str, Any]
    data_sha256: str

    def as_row(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "team_id": self.team_id,
            "data": self.data,
            "data_sha256": self.data_sha256,
        }


@dataclass
class ParsedItems:
    fetched: int
    items: list[MetricItem]
    skipped: Counter[str] = field(default_factory=Counter)


def parse(payload: Any, team_id: str | None = None) -> ParsedItems:
    """Apply the rules above to a decoded JSON document."""
    raw = payload.get("metrics") if isinstance(payload, dict) else payload
    if not isinstance(raw, list):
        raise PermanentTaskError('the source must answer a JSON list or {"metrics": [...]}')
    skipped: Counter[str] = Counter()
    kept: dict[str, MetricItem] = {}
    for entry in raw:
        try:
            item = _item(entry)
        except RecursionError:  # nested too deep to check or hash
            item = None
        if item is None:
            skipped["invalid"] += 1
            continue
        if team_id is not None:
            if item.team_id is not None and item.team_id != team_id:
                skipped["other_team"] += 1
                continue
            item = MetricItem(item.external_id, team_id, item.data, item.data_sha256)
        if item.external_id in kept:
            skipped["duplicate"] += 1
            del kept[item.external_id]  # re-inserted below: the last occurrence's position
        kept[item.external_id] = item
    return ParsedItems(fetched=len(raw), items=list(kept.values()), skipped=skipped)


def _item(entry: Any) -> MetricItem | None:
    if not isinstance(entry, dict) or _has_nul(entry):
        return None
    external_id = _key(entry.get("id"), MAX_ID_CHARS)
    if external_id is None:
        return None
    team = entry.get("team_id")
    team_id = None if team is None else _key(team, MAX_TEAM_CHARS)
    if team is not None and team_id is None:
        return None
    return MetricItem(external_id, team_id, entry, digest(entry))


def _key(value: Any, max_chars: int) -> str | None:
    """A string or integer identifier as text; None when it is neither (or empty, or too long)."""
    if isinstance(value, bool):
        return None
    text = str(value) if isinstance(value, int) else value
    if isinstance(text, str) and text.strip() and len(text) <= max_chars:
        return text
    return None


def digest(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
