"""The workbook writer, read back with openpyxl: header, types, summary, safety, sheets."""

import datetime as dt
import decimal
import gc
import warnings
import zoneinfo

import openpyxl
import pandas as pd
import pytest

from offload_report_worker.excel import SHEET, SUMMARY_SHEET, Summary, WorkbookWriter

GENERATED = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


def build(tmp_path, columns, *frames, summary=None, **kw):
    path = tmp_path / "report.xlsx"
    with WorkbookWriter(path, columns, tmpdir=tmp_path, **kw) as book:
        for frame in frames:
            book.write(frame)
        book.finish(summary or Summary("sales", "inline rows", generated_at=GENERATED))
    return openpyxl.load_workbook(path), book


def values(sheet):
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def formula_cells(workbook):
    return [
        c.coordinate for s in workbook for row in s.iter_rows() for c in row if c.data_type == "f"
    ]


def test_header_row_is_bold_filled_frozen_and_filtered(tmp_path):
    frame = pd.DataFrame({"a": ["x" * 30, "y"], "b": [1, 2]})
    workbook, _ = build(tmp_path, ["customer name", "n"], frame)
    sheet = workbook[SHEET]
    header = sheet[1]
    assert [c.value for c in header] == ["customer name", "n"]
    assert all(c.font.b for c in header)
    assert {c.fill.fgColor.rgb for c in header} == {"FFDCE6F1"}
    assert not any(c.font.b for c in sheet[2])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:B3"
    assert sheet.column_dimensions["A"].width > sheet.column_dimensions["B"].width >= 8


def test_cells_keep_their_types(tmp_path):
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    frame = pd.DataFrame.from_records(
        [
            (1, 2.5, True, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=kolkata), dt.date(2026, 5, 1),
             decimal.Decimal("10.25"), dt.timedelta(hours=26), "plain", 2**60),
            (None, None, False, None, None, None, None, None, 7),
        ],
        columns=range(9),
    )  # fmt: skip
    columns = ["n", "x", "ok", "at", "day", "amount", "took", "text", "big"]
    workbook, book = build(tmp_path, columns, frame)
    sheet = workbook[SHEET]
    assert values(sheet)[1:] == [
        [1, 2.5, True, dt.datetime(2026, 1, 1, 21, 34, 5), dt.datetime(2026, 5, 1),
         10.25, dt.timedelta(days=1, seconds=7200), "plain", str(2**60)],
        [None, None, False, None, None, None, None, None, 7],
    ]  # fmt: skip
    row = sheet[2]
    assert [c.data_type for c in row] == ["n", "n", "b", "d", "d", "n", "d", "s", "s"]
    assert row[3].number_format == "yyyy-mm-dd hh:mm:ss"  # a UTC datetime, no time zone
    assert row[4].number_format == "yyyy-mm-dd"
    assert book.rows == 2


def test_user_text_never_becomes_a_formula_and_risky_text_is_neutralised(tmp_path):
    risky = ["=1+1", '=HYPERLINK("http://e.example","x")', "+SUM(A1)", "-2+3", "@cmd", "\tx", "\ry"]
    frame = pd.DataFrame({"text": [*risky, "a=b", "safe"], "n": [-5, 0, 1, 2, 3, 4, 5, 6, 7]})
    summary = Summary("r", "inline rows", {"=filter": "=evil()"}, generated_at=GENERATED)
    workbook, _ = build(tmp_path, ["=header", "n"], frame, summary=summary)
    sheet = workbook[SHEET]
    assert formula_cells(workbook) == []
    assert values(sheet)[0] == ["'=header", "n"]
    # openpyxl does not unescape "_x000D_" (a CR, as OOXML stores it) in inline strings.
    texts = [r[0].replace("_x000D_", "\r") for r in values(sheet)[1:]]
    assert texts == ["'" + t for t in risky] + ["a=b", "safe"]
    assert [r[1] for r in values(sheet)[1:]] == [-5, 0, 1, 2, 3, 4, 5, 6, 7]  # numbers untouched
    assert ["'=filter", "'=evil()"] in values(workbook[SUMMARY_SHEET])


def test_summary_sheet_describes_the_report(tmp_path):
    summary = Summary(
        "signups",
        "task history (offload.tasks)",
        {"status": "completed", "created_from": "2026-01-01"},
        generated_at=GENERATED,
        task_id="t-1",
    )
    frame = pd.DataFrame({"a": range(5)})
    workbook, _ = build(tmp_path, ["a"], frame, frame, summary=summary)
    assert workbook.sheetnames == [SHEET, SUMMARY_SHEET]
    lines = {r[0]: r[1] for r in values(workbook[SUMMARY_SHEET]) if r[0]}
    assert lines["Report"] == "signups"
    assert lines["Source"] == "task history (offload.tasks)"
    assert lines["Rows"] == 10
    assert lines["Columns"] == 1
    assert lines["Generated at (UTC)"] == dt.datetime(2026, 11, 2, 9, 30)
    assert lines["Task"] == "t-1"
    assert (lines["status"], lines["created_from"]) == ("completed", "2026-01-01")


def test_rows_continue_on_another_sheet_past_the_sheet_limit(tmp_path):
    chunks = [pd.DataFrame({"i": range(start, start + 4)}) for start in (0, 4)]
    workbook, book = build(tmp_path, ["i"], *chunks, rows_per_sheet=3)
    assert workbook.sheetnames == [SHEET, f"{SHEET} (2)", f"{SHEET} (3)", SUMMARY_SHEET]
    assert [values(workbook[name]) for name in workbook.sheetnames[:3]] == [
        [["i"], [0], [1], [2]],
        [["i"], [3], [4], [5]],
        [["i"], [6], [7]],
    ]
    assert book.rows == 8


def test_a_column_typed_differently_per_chunk_is_written_per_chunk(tmp_path):
    first = pd.DataFrame({"v": [None, None]}, dtype=object)
    second = pd.DataFrame({"v": [1.5, "x"]})
    workbook, _ = build(tmp_path, ["v"], first, second)
    assert values(workbook[SHEET]) == [["v"], [None], [None], [1.5], ["x"]]


def test_a_report_with_no_rows_still_has_its_header_and_summary(tmp_path):
    workbook, book = build(tmp_path, ["a", "b"])
    assert values(workbook[SHEET]) == [["a", "b"]]
    assert book.rows == 0


def write_then_fail(path, tmpdir):
    with WorkbookWriter(path, ["a"], tmpdir=tmpdir) as book:
        book.write(pd.DataFrame({"a": [1, 2]}))
        raise RuntimeError("cancelled")


def test_leaving_with_an_error_discards_the_workbook_and_its_temp_files(tmp_path):
    path = tmp_path / "report.xlsx"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="cancelled"):
            write_then_fail(path, tmp_path)
        gc.collect()  # an unclosed temporary file would warn here
    assert not path.exists()
