"""Excel workbooks built with pandas + xlsxwriter."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pandas as pd

SHEET = "Report"


def build_workbook(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """An .xlsx with one sheet: a bold header row and one row per input row.

    xlsxwriter is told never to turn strings into formulas or URLs: user text stays text.
    """
    frame = pd.DataFrame(list(rows), columns=list(columns))
    buffer = io.BytesIO()
    with pd.ExcelWriter(
        buffer,
        engine="xlsxwriter",
        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}},
    ) as writer:
        frame.to_excel(writer, sheet_name=SHEET, index=False)
        sheet = writer.sheets[SHEET]
        sheet.freeze_panes(1, 0)
        for i, name in enumerate(frame.columns):
            width = max([len(str(name)), *(len(str(v)) for v in frame[name].head(1000))])
            sheet.set_column(i, i, min(width + 2, 60))
    return buffer.getvalue()
