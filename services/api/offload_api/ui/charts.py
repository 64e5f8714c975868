"""The overview's charts, drawn on the server as inline SVG: no chart library, no script, nothing
a Content-Security-Policy must allow (colours are classes in ui.css, never style attributes).
Each bar carries a <title> (the browser's tooltip) with its figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["Bucket", "failure_rate_chart", "throughput_chart"]

WIDTH, HEIGHT, AXIS = 600, 120, 48  # the plot is WIDTH - AXIS wide, labels on the left


@dataclass(frozen=True)
class Bucket:
    start: datetime
    completed: int
    failed: int


def _frame(label: str, top: str, bars: list[str], first: datetime, last: datetime) -> Markup:
    fmt = "%H:%M" if (last - first).total_seconds() < 43_200 else "%d %b %H:%M"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 16}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="{AXIS}" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>',
        f'<text class="tick" x="{AXIS - 4}" y="10" text-anchor="end">{escape(top)}</text>',
        f'<text class="tick" x="{AXIS - 4}" y="{HEIGHT}" text-anchor="end">0</text>',
        f'<text class="tick" x="{AXIS}" y="{HEIGHT + 13}">{first:{fmt}} UTC</text>',
        f'<text class="tick" x="{WIDTH}" y="{HEIGHT + 13}" text-anchor="end">{last:{fmt}}</text>',
        *bars,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped


def _slot(index: int, count: int) -> tuple[float, float]:
    step = (WIDTH - AXIS) / max(count, 1)
    return AXIS + index * step + step * 0.1, step * 0.8


def throughput_chart(label: str, buckets: Sequence[Bucket]) -> Markup:
    """Completed (bottom) and failed (top) tasks per bucket, stacked."""
    if not buckets:
        return Markup("")
    peak = max((b.completed + b.failed for b in buckets), default=0) or 1
    bars = []
    for i, b in enumerate(buckets):
        x, w = _slot(i, len(buckets))
        done_h = HEIGHT * b.completed / peak
        fail_h = HEIGHT * b.failed / peak
        tip = f"{b.start:%Y-%m-%d %H:%M} UTC: {b.completed} completed, {b.failed} failed"
        bars.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect class="done" x="{x:.1f}" y="{HEIGHT - done_h:.1f}" width="{w:.1f}" '
            f'height="{done_h:.1f}"/>'
            f'<rect class="fail" x="{x:.1f}" y="{HEIGHT - done_h - fail_h:.1f}" width="{w:.1f}" '
            f'height="{fail_h:.1f}"/></g>'
        )
    return _frame(label, f"{peak:,}", bars, buckets[0].start, buckets[-1].start)


def failure_rate_chart(label: str, buckets: Sequence[Bucket]) -> Markup:
    """failed / (completed + failed) per bucket, 0-100 %; a bucket with nothing finished has
    no bar."""
    if not buckets:
        return Markup("")
    bars = []
    for i, b in enumerate(buckets):
        finished = b.completed + b.failed
        if not finished:
            continue
        rate = b.failed / finished
        x, w = _slot(i, len(buckets))
        h = HEIGHT * rate
        tip = f"{b.start:%Y-%m-%d %H:%M} UTC: {rate:.0%} of {finished} failed"
        bars.append(
            f'<g><title>{escape(tip)}</title><rect class="rate" x="{x:.1f}" '
            f'y="{HEIGHT - h:.1f}" width="{w:.1f}" height="{max(h, 1):.1f}"/></g>'
        )
    return _frame(label, "100%", bars, buckets[0].start, buckets[-1].start)
