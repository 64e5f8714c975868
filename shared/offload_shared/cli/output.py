"""How the `offload` command prints: aligned tables for people, JSON for scripts, progress bars
on stderr (so that stdout stays the answer alone, --json or not).

--json prints one JSON object for a command that shows one thing (status, enqueue, stats, a
bulk retry's counts) and one object per line (JSON Lines) for lists (list, workers, tail,
api-key list, schedules list).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

__all__ = [
    "JSON_HELP",
    "Bar",
    "emit_json",
    "emit_lines",
    "json_option",
    "progress_bar",
    "table",
    "when",
]

F = TypeVar("F", bound=Callable[..., Any])
JSON_HELP = "print JSON (one object, or one per line for lists) instead of text"


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(command)


def when(at: datetime | str | None) -> str:
    """A time as people read it here: UTC, to the minute ('-' for none)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else "-"


def _default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, default=_default))


def emit_lines(values: Iterable[object]) -> None:
    for value in values:
        emit_json(value)


def table(rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


class Bar:
    """A progress bar on stderr that can be moved to an absolute position."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self.pos = 0

    def to(self, pos: int) -> None:
        if pos > self.pos:
            self._bar.update(pos - self.pos)
            self.pos = pos


@contextmanager
def progress_bar(length: int, label: str) -> Iterator[Bar]:
    """Click's bar, on stderr: drawn on a terminal, a line at the start and end elsewhere."""
    with click.progressbar(
        length=max(length, 1), label=label, file=sys.stderr, show_pos=True
    ) as bar:
        yield Bar(bar)
