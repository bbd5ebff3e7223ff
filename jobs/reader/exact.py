"""The reference reading of a metrics CSV, record by record with the :mod:`csv` module.

It is what the polars reader is checked against, and it has two jobs there:

- naming the line of a mistake: polars finds *that* row ``r`` is wrong (vectorised);
  :func:`line_of` reads records up to ``r`` and returns its physical line (quoted fields
  may span lines, blank lines count), and :func:`first_mistake` states what is wrong in
  the very words users see, whichever engine noticed it first;
- reading files that polars refuses but Python's ``csv`` and ``float`` accept (a value
  with spaces around it, a record with a stray CR): :func:`read_records` gives the same
  columns the fast path would have given.

Only bad or unusual files take these paths, so speed is not their concern.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from jobs.domain import COUNT_METRICS
from jobs.errors import InputError

__all__ = [
    "Record",
    "check_record",
    "checked_value",
    "first_mistake",
    "line_of",
    "parse_date",
    "read_records",
    "records",
]


#: (row index among the data records, physical line, fields); blank records included.
Record = tuple[int, int, list[str]]


def records(path: Path) -> Iterator[Record]:
    """Every data record after the header, blank ones too (polars counts those as rows)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row_index, row in enumerate(reader):
            yield row_index, reader.line_num, row


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` exactly, or None."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def check_record(fields: list[str], where: str) -> tuple[date, float] | None:
    """The record's date and value, None for a blank line; raise :class:`InputError` if wrong."""
    if len(fields) != 4:
        if not fields:
            return None
        raise InputError(f"{where}: expected 4 fields (date,series,metric,value), got {len(fields)}")
    day_text, _series, metric, value_text = fields
    day = parse_date(day_text)
    if day is None:
        raise InputError(f"{where}: date {day_text!r} is not YYYY-MM-DD")
    return day, checked_value(metric, value_text, where)


def checked_value(metric: str, value_text: str, where: str) -> float:
    """``value_text`` as a number, or the one-line error at ``where`` ("FILE:LINE"): not a
    finite number, or a negative count. Shared by the daily and the hourly readers."""
    try:
        value = float(value_text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{where}: value {value_text!r} is not a number")
    if value < 0 and metric in COUNT_METRICS:
        raise InputError(f"{where}: {metric} is a count and cannot be negative, got {value_text}")
    return value


def first_mistake(path: Path, *, through: int | None = None) -> None:
    """Raise the :class:`InputError` of the first wrong record (up to row ``through``), if any."""
    for row_index, line, fields in records(path):
        check_record(fields, f"{path.name}:{line}")
        if through is not None and row_index >= through:
            return


def line_of(path: Path, rows: list[int]) -> dict[int, int]:
    """The physical line of each data row index in ``rows``."""
    wanted, found = set(rows), {}
    last = max(rows, default=-1)
    for row_index, line, _fields in records(path):
        if row_index in wanted:
            found[row_index] = line  # where the record ends, as csv counts (and first_mistake says)
        if row_index >= last:
            break
    return found


def read_records(path: Path) -> tuple[list[str], list[str], list[str], list[float], list[int]]:
    """(dates, series, metrics, values, row indexes) of every non-blank record; raises on
    the first wrong one."""
    days: list[str] = []
    series: list[str] = []
    metrics: list[str] = []
    values: list[float] = []
    rows: list[int] = []
    for row_index, line, fields in records(path):
        checked = check_record(fields, f"{path.name}:{line}")
        if checked is None:
            continue
        days.append(checked[0].isoformat())
        series.append(fields[1])
        metrics.append(fields[2])
        values.append(checked[1])
        rows.append(row_index)
    return days, series, metrics, values, rows
