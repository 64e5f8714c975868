"""analytics.sync_metrics: fetch a JSON metrics document and upsert its items.

Rows live in offload.metrics, keyed by (tenant, source, external_id); `source` is the URL
without its fragment, scheme and host lower-cased. An item whose content (sha256) and team are
unchanged is skipped, unless force_refresh, which rewrites it and counts it as updated. All
batches are written in one transaction, so a sync is applied whole or not at all.

The result: fetched (items in the document) = created + updated + skipped, with the skipped
ones broken down by reason (see metric_items for the rules).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from offload_analytics_worker import http_fetch, metric_items
from offload_analytics_worker.queries import sql
from offload_shared.db import Database, Json
from offload_shared.settings import Settings

BATCH_ITEMS = 500


def sync_metrics(
    db: Database, settings: Settings, tenant: str, params: dict[str, Any]
) -> dict[str, Any]:
    url = params["source_url"]
    payload = http_fetch.fetch_json(
        url,
        timeout=settings.sync_timeout,
        max_bytes=settings.sync_max_bytes,
        allowed_hosts=settings.sync_allowed_hosts,
    )
    parsed = metric_items.parse(payload, params.get("team_id"))
    written = upsert(
        db,
        tenant,
        source_key(url),
        parsed.items,
        force=bool(params.get("force_refresh", False)),
    )
    skipped = parsed.skipped + Counter(unchanged=len(parsed.items) - sum(written.values()))
    return {
        "fetched": parsed.fetched,
        "created": written["created"],
        "updated": written["updated"],
        "skipped": sum(skipped.values()),
        "skipped_by_reason": {reason: skipped[reason] for reason in metric_items.SKIP_REASONS},
    }


def upsert(
    db: Database, tenant: str, source: str, items: list[metric_items.MetricItem], *, force: bool
) -> Counter[str]:
    """Write the items in batches, in one transaction; count the rows created and updated."""
    written: Counter[str] = Counter(created=0, updated=0)
    with db.transaction() as conn:
        for start in range(0, len(items), BATCH_ITEMS):
            batch = [item.as_row() for item in items[start : start + BATCH_ITEMS]]
            rows = conn.execute(
                sql("upsert_metrics"),
                {"tenant": tenant, "source": source, "items": Json(batch), "force": force},
            ).fetchall()
            for row in rows:
                written["created" if row["created"] else "updated"] += 1
    return written


def source_key(url: str) -> str:
    """The URL that names a source: without its fragment, scheme and host lower-cased."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
