"""Excel workbooks written row by row with xlsxwriter, in constant memory, to a file.

A report is written one chunk (a pandas frame) at a time: `cells.typed_columns` types and
cleans the chunk, then each row is written in order, so xlsxwriter's `constant_memory` mode
keeps only the current row in memory and flushes the rest to a temporary file. Memory therefore
depends on the chunk size, not on the number of rows.

The data sheet has a bold, filled, frozen header row with an autofilter, column widths taken
from the header and the first chunk, and typed cells (see `cells`). Past Excel's limit of
1,048,576 rows a sheet, the rows continue on "Data (2)", "Data (3)"... each with its header.
A "Summary" sheet follows: report name, source, filters/params, row count, generation time.
xlsxwriter never turns strings into formulas or links (`strings_to_formulas`/`_urls` off).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from offload_report_worker.cells import TEMPORAL, Column, Kind, cell, neutralise, typed_columns

SHEET = "Data"
SUMMARY_SHEET = "Summary"
MAX_ROWS_PER_SHEET = 1_048_575  # Excel's 1,048,576 rows, less the header
MIN_WIDTH, MAX_WIDTH = 8, 60
WIDTH_SAMPLE = 1_000
NUMBER_FORMATS = {
    Kind.DATETIME: "yyyy-mm-dd hh:mm:ss",
    Kind.DATE: "yyyy-mm-dd",
    Kind.TIME: "hh:mm:ss",
    Kind.DURATION: "[h]:mm:ss",
}
FIXED_WIDTHS = {Kind.BOOL: 6, Kind.DATETIME: 19, Kind.DATE: 10, Kind.TIME: 8, Kind.DURATION: 10}
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

CellWriter = Callable[[int, int, Any], Any]


@dataclass(frozen=True)
class Summary:
    """What the summary sheet says about the report."""

    report_name: str
    source: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    task_id: str | None = None


class WorkbookWriter:
    """One report workbook: `write` each chunk in order, then `finish` with the summary.

    Used as a context manager: leaving it with an exception discards the half-written workbook
    (its temporary files are closed; no file is assembled).
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        tmpdir: Path,
        rows_per_sheet: int = MAX_ROWS_PER_SHEET,
    ) -> None:
        if not columns:
            raise ValueError("a report needs at least one column")
        self.columns = list(columns)
        self.rows = 0
        self.rows_per_sheet = rows_per_sheet
        self._book = xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "tmpdir": str(tmpdir)})
        self._header = self._book.add_format(
            {"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "valign": "top"}
        )
        self._label = self._book.add_format({"bold": True, "valign": "top"})
        self._formats = {
            kind: self._book.add_format({"num_format": f}) for kind, f in NUMBER_FORMATS.items()
        }
        self._sheets: list[tuple[Worksheet, int]] = []  # (sheet, data rows written)
        self._widths: list[int] | None = None
        self._done = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or not self._done:
            self.discard()

    # -- data ----------------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk; its columns are taken by position."""
        if frame.shape[1] != len(self.columns):
            raise ValueError(f"chunk has {frame.shape[1]} columns, expected {len(self.columns)}")
        if frame.empty:
            return
        typed = typed_columns(frame)
        if self._widths is None:
            self._widths = _widths(self.columns, typed)
        start = 0
        while start < len(frame):
            sheet, used = self._current_sheet()
            take = min(len(frame) - start, self.rows_per_sheet - used)
            self._write_rows(sheet, used + 1, typed, start, start + take)
            self._sheets[-1] = (sheet, used + take)
            self.rows += take
            start += take

    def _current_sheet(self) -> tuple[Worksheet, int]:
        if not self._sheets or self._sheets[-1][1] >= self.rows_per_sheet:
            self._add_data_sheet()
        return self._sheets[-1]

    def _add_data_sheet(self) -> None:
        number = len(self._sheets) + 1
        sheet = self._book.add_worksheet(SHEET if number == 1 else f"{SHEET} ({number})")
        for col, width in enumerate(self._widths or [MIN_WIDTH] * len(self.columns)):
            sheet.set_column(col, col, width)
        for col, name in enumerate(self.columns):
            sheet.write_string(0, col, neutralise(name), self._header)
        sheet.freeze_panes(1, 0)
        self._sheets.append((sheet, 0))

    def _write_rows(
        self, sheet: Worksheet, first_row: int, typed: list[Column], start: int, stop: int
    ) -> None:
        writers = [self._cell_writer(sheet, column.kind) for column in typed]
        slices = [column.values[start:stop] for column in typed]
        for row, values in enumerate(zip(*slices, strict=True), start=first_row):
            for col, value in enumerate(values):
                if value is not None:
                    writers[col](row, col, value)

    def _cell_writer(self, sheet: Worksheet, kind: Kind) -> CellWriter:
        if kind is Kind.NUMBER:
            return sheet.write_number
        if kind is Kind.BOOL:
            return sheet.write_boolean
        if kind is Kind.TEXT:
            return sheet.write_string
        if kind in TEMPORAL:
            number_format = self._formats[kind]

            def temporal(row: int, col: int, value: Any) -> Any:
                if value.__class__ is str:  # outside Excel's date range: ISO text
                    return sheet.write_string(row, col, value)
                return sheet.write_number(row, col, value, number_format)

            return temporal
        return lambda row, col, value: _write_plain(sheet, row, col, value)

    # -- the end -------------------------------------------------------------------------------

    def finish(self, summary: Summary) -> None:
        """Add the summary sheet and assemble the .xlsx file."""
        if not self._sheets:
            self._add_data_sheet()
        for sheet, used in self._sheets:
            sheet.autofilter(0, 0, used, len(self.columns) - 1)
        self._write_summary(summary)
        self._book.set_properties({"title": summary.report_name, "comments": "Made by Offload"})
        self._book.close()
        self._done = True

    def _write_summary(self, summary: Summary) -> None:
        sheet = self._book.add_worksheet(SUMMARY_SHEET)
        sheet.set_column(0, 0, 24)
        sheet.set_column(1, 1, 60)
        generated = summary.generated_at.astimezone(dt.UTC).replace(tzinfo=None)
        lines: list[tuple[str, Any]] = [
            ("Report", summary.report_name),
            ("Source", summary.source),
            ("Rows", self.rows),
            ("Columns", len(self.columns)),
            ("Generated at (UTC)", generated),
        ]
        if summary.task_id:
            lines.append(("Task", summary.task_id))
        for row, (label, value) in enumerate(lines):
            sheet.write_string(row, 0, label, self._label)
            if isinstance(value, dt.datetime):
                sheet.write_datetime(row, 1, value, self._formats[Kind.DATETIME])
            else:
                _write_plain(sheet, row, 1, cell(value))
        heading = len(lines) + 1
        sheet.write_string(heading, 0, "Filters and parameters", self._header)
        sheet.write_string(heading, 1, "", self._header)
        if not summary.parameters:
            sheet.write_string(heading + 1, 0, "(none)")
        for row, (name, value) in enumerate(summary.parameters.items(), start=heading + 1):
            sheet.write_string(row, 0, neutralise(str(name)), self._label)
            _write_plain(sheet, row, 1, cell(value))

    def discard(self) -> None:
        """Drop a workbook that will not be finished: close its temporary row files."""
        if self._done:
            return
        self._done = True
        # xlsxwriter has no public "abandon": close() would assemble the whole file first.
        for sheet in self._book.worksheets():
            sheet._opt_close()


def _write_plain(
    sheet: Worksheet, row: int, col: int, value: str | bool | int | float | None
) -> None:
    if value is None:
        return
    if value.__class__ is str:
        sheet.write_string(row, col, value)
    elif value.__class__ is bool:
        sheet.write_boolean(row, col, value)
    else:
        sheet.write_number(row, col, value)


def _widths(columns: Sequence[str], typed: Sequence[Column]) -> list[int]:
    widths = []
    for name, column in zip(columns, typed, strict=True):
        content = FIXED_WIDTHS.get(column.kind)
        if content is None:
            sample = column.values[:WIDTH_SAMPLE]
            content = max((len(str(v)) for v in sample if v is not None), default=0)
        header = len(name) + 3  # bold text and the autofilter button
        widths.append(max(MIN_WIDTH, min(MAX_WIDTH, max(header, content + 1))))
    return widths
