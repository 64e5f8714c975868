"""Typing and cleaning one chunk: neutralised text, numbers kept, datetimes as UTC serials."""

import datetime as dt
import decimal
import uuid
import zoneinfo

import pandas as pd
import pytest

from offload_report_worker.cells import (
    Kind,
    cell,
    frame_from_rows,
    neutralise,
    neutralise_series,
    typed_columns,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("", ""),
        ("plain", "plain"),
    ],
)
def test_neutralise_prefixes_text_a_spreadsheet_would_read_as_a_formula(text, expected):
    assert neutralise(text) == expected


def test_the_vectorised_form_agrees_and_keeps_missing_values():
    series = pd.Series(["=x", "ok", None, "-3", "@y"])
    assert neutralise_series(series).tolist()[:2] == ["'=x", "ok"]
    assert pd.isna(neutralise_series(series)[2])
    assert neutralise_series(series).tolist()[3:] == ["'-3", "'@y"]


def one_column(*values):
    [column] = typed_columns(frame_from_rows([(v,) for v in values], 1))
    return column


def test_numbers_stay_numbers_even_when_negative():
    column = one_column(-5, 3, None)
    assert (column.kind, column.values) == (Kind.NUMBER, [-5.0, 3.0, None])


def test_decimals_become_floats_and_floats_keep_their_value():
    assert one_column(decimal.Decimal("1.25"), decimal.Decimal("-2")).values == [1.25, -2.0]
    assert one_column(0.1, None).values == [0.1, None]


def test_numbers_a_double_cannot_hold_become_text():
    column = one_column(2**53 + 1, 1)
    assert (column.kind, column.values) == (Kind.MIXED, [str(2**53 + 1), 1])
    assert one_column(float("inf"), 1.5).values == ["inf", 1.5]


def test_aware_datetimes_become_utc_excel_serials():
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    column = one_column(dt.datetime(2026, 1, 2, 5, 30, tzinfo=kolkata), None)
    assert column.kind is Kind.DATETIME
    # 2026-01-02 00:00 UTC is day 46024 since Excel's 1899-12-30 epoch.
    assert column.values == [46024.0, None]


def test_naive_datetimes_are_taken_as_utc_and_dates_as_days():
    assert one_column(dt.datetime(2026, 1, 2, 12)).values == [46024.5]
    column = one_column(dt.date(2026, 1, 2), None)
    assert (column.kind, column.values) == (Kind.DATE, [46024.0, None])


def test_dates_excel_cannot_show_become_iso_text():
    column = one_column(dt.date(1899, 1, 1), dt.date(2026, 1, 2))
    assert (column.kind, column.values) == (Kind.DATE, ["1899-01-01", 46024.0])


def test_times_and_durations_are_fractions_of_a_day():
    assert one_column(dt.time(6, 0)).values == [0.25]
    column = one_column(dt.timedelta(hours=36))
    assert (column.kind, column.values) == (Kind.DURATION, [1.5])


def test_strings_are_neutralised_and_other_values_become_text():
    assert one_column("=cmd", "ok", None).values == ["'=cmd", "ok", None]
    value = uuid.UUID(int=1)
    assert one_column(value).values == [str(value)]
    assert one_column({"a": "=b"}, [1, 2]).values == ['{"a": "=b"}', "[1, 2]"]
    assert one_column(b"\x01\xff").values == ["0x01ff"]


def test_a_mixed_column_keeps_each_value_s_own_type():
    column = one_column("=a", 2, True, None, 1.5)
    assert (column.kind, column.values) == (Kind.MIXED, ["'=a", 2, True, None, 1.5])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (float("nan"), None),
        (decimal.Decimal("Infinity"), "Infinity"),
        ("+x", "'+x"),
        (dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_a_single_cell_for_the_summary(value, expected):
    assert cell(value) == expected


def test_values_pandas_cannot_convert_are_kept_as_text():
    assert one_column(dt.timedelta(days=999_999_999), None).values == [
        "999999999 days, 0:00:00",
        None,
    ]
