"""Turning one chunk of rows into typed, safe Excel cell values (pandas, one column at a time).

Each column of a chunk becomes a `Column`: a kind that tells the writer which xlsxwriter call
to make, and a list of plain Python values where None means an empty cell.

- Numbers stay numbers (Decimal becomes float: Excel has only doubles). Integers beyond 2**53,
  which a double cannot hold exactly, are written as text so no digit is silently changed;
  infinities are written as text too (xlsxwriter would otherwise need an error formula).
- Datetimes become Excel serial numbers in UTC without a time zone (aware values are converted
  to UTC first; naive ones are taken as UTC). Dates, times and durations likewise. Values Excel
  cannot show as dates (before 1900-03-01) are written as ISO text.
- Strings are neutralised against formula injection: one that starts with `=`, `+`, `-`, `@`,
  a tab or a carriage return gets a leading `'`. Only strings, never numbers.
- Anything else (UUID, JSON, bytes, arrays) becomes text, also neutralised.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_EXACT_INTEGER = 2**53
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
FIRST_SERIAL = pd.Timestamp("1900-03-01")  # Excel's serials are wrong before this (1900 bug)
LAST_SERIAL = pd.Timestamp("9999-12-31 23:59:59.999999")
DAY = pd.Timedelta(days=1)
SECONDS_PER_DAY = 86_400.0


class Kind(enum.Enum):
    NUMBER = "number"  # int or float
    BOOL = "bool"
    TEXT = "text"  # str, already neutralised
    DATETIME = "datetime"  # Excel serial (float), or ISO text when out of Excel's range
    DATE = "date"
    TIME = "time"
    DURATION = "duration"
    MIXED = "mixed"  # any of str / bool / int / float, per cell


TEMPORAL = frozenset({Kind.DATETIME, Kind.DATE, Kind.TIME, Kind.DURATION})


@dataclass(frozen=True)
class Column:
    kind: Kind
    values: list[Any]  # None: an empty cell


def neutralise(text: str) -> str:
    """Prefix `'` to text a spreadsheet could take for a formula."""
    return "'" + text if text.startswith(TRIGGERS) else text


def neutralise_series(strings: pd.Series) -> pd.Series:
    """`neutralise`, vectorised over a series of strings (missing values stay missing)."""
    risky = strings.str.startswith(TRIGGERS, na=False).astype(bool)
    return strings.mask(risky, "'" + strings)


def frame_from_rows(rows: Sequence[Sequence[Any]], width: int) -> pd.DataFrame:
    """A chunk of rows as a frame with positional column labels (names may repeat)."""
    return pd.DataFrame.from_records(list(rows), columns=range(width), coerce_float=False)


def typed_columns(frame: pd.DataFrame) -> list[Column]:
    """Every column of the chunk, typed and cleaned, in order."""
    return [_column(frame.iloc[:, i]) for i in range(frame.shape[1])]


def _plain(series: pd.Series) -> list[Any]:
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _column(series: pd.Series) -> Column:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Column(Kind.BOOL, _plain(series))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes(series)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return _durations(series)
    if pd.api.types.is_numeric_dtype(dtype):
        return _numbers(series)
    if isinstance(dtype, pd.StringDtype):
        return Column(Kind.TEXT, _plain(neutralise_series(series)))
    try:
        return _objects(series)
    except (ValueError, OverflowError, TypeError):  # beyond what pandas converts: keep as text
        return _mixed(series)


def _objects(series: pd.Series) -> Column:
    present = series[series.notna()]
    kinds = set(map(type, present))
    if not kinds:
        return Column(Kind.MIXED, [None] * len(series))
    if kinds == {str}:
        return Column(Kind.TEXT, _plain(neutralise_series(series.astype("object"))))
    if kinds == {bool}:
        return Column(Kind.BOOL, _plain(series))
    if kinds <= {int, float, decimal.Decimal}:
        if kinds == {int} and max(abs(v) for v in present) >= MAX_EXACT_INTEGER:
            return _mixed(series)
        return _numbers(pd.to_numeric(series.astype("object")))
    if kinds == {dt.date}:
        return _datetimes(pd.to_datetime(series), kind=Kind.DATE)
    if kinds <= {dt.datetime, pd.Timestamp}:
        return _datetimes(pd.to_datetime(series, utc=True))
    if kinds == {dt.time}:
        return Column(Kind.TIME, [None if v is None else _time_serial(v) for v in _plain(series)])
    if kinds <= {dt.timedelta, pd.Timedelta}:
        return _durations(pd.to_timedelta(series))
    return _mixed(series)


def _numbers(series: pd.Series) -> Column:
    values = series.to_numpy()
    if values.dtype.kind == "f" and np.isinf(values).any():
        return _mixed(series)
    if values.dtype.kind in "iu" and len(values) and np.abs(values).max() >= MAX_EXACT_INTEGER:
        return _mixed(series)
    return Column(Kind.NUMBER, _plain(series))


def _datetimes(series: pd.Series, kind: Kind = Kind.DATETIME) -> Column:
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    serials = (series - EXCEL_EPOCH) / DAY
    in_range = series.between(FIRST_SERIAL, LAST_SERIAL)
    values = _plain(serials.where(in_range))
    if not in_range[series.notna()].all():
        for i in np.flatnonzero((~in_range & series.notna()).to_numpy()):
            stamp = series.iloc[i]
            values[i] = stamp.date().isoformat() if kind is Kind.DATE else stamp.isoformat()
    return Column(kind, values)


def _durations(series: pd.Series) -> Column:
    return Column(Kind.DURATION, _plain(series.dt.total_seconds() / SECONDS_PER_DAY))


def _time_serial(value: dt.time) -> float:
    seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return seconds / SECONDS_PER_DAY


def _mixed(series: pd.Series) -> Column:
    return Column(Kind.MIXED, [None if v is None else cell(v) for v in _plain(series)])


def cell(value: Any) -> str | bool | int | float | None:
    """One value as something xlsxwriter writes without interpretation: text, bool or number."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < MAX_EXACT_INTEGER else str(value)
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        if math.isnan(number):
            return None
        return number if math.isfinite(number) else str(value)
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict | list | tuple):
        return neutralise(json.dumps(value, default=str, ensure_ascii=False))
    return neutralise(str(value))
