"""The hourly metrics CSV: ``datetime,series,metric,value``, one row per hour x series x metric.

``datetime`` is the start of a local hour, ``YYYY-MM-DDTHH:00`` (``2026-12-07T10:00``);
everything else is as in the daily file (:mod:`jobs.csvio`): ``series`` is ``total`` or
``"{dimension}:{value}"``, counts must not be negative. A file is one granularity: a day
(``2026-12-07``) in an hourly file, an hour with minutes, a duplicate row, a bad number:
:class:`jobs.errors.InputError` with one line ``FILE:LINE: what is wrong``, nothing partial.

:func:`is_hourly` tells the two kinds of file apart by their header alone.
"""

from __future__ import annotations

import csv
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from jobs.detection.panels import series_order
from jobs.errors import InputError
from jobs.hourly.domain import HOUR, HourlyPanel
from jobs.reader.exact import checked_value

__all__ = ["HEADER", "is_hourly", "parse_hour", "read_hourly_csv"]

HEADER = ("datetime", "series", "metric", "value")
_EPOCH = datetime(1970, 1, 1)


def is_hourly(path: Path) -> bool:
    """Whether ``path``'s header starts with ``datetime`` (an hourly file); False when the
    file cannot be read (the daily reader then says why)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return first.split(",", 1)[0].strip().strip('"') == HEADER[0]


def parse_hour(text: str) -> datetime:
    """``YYYY-MM-DDTHH:00`` as a naive datetime; ValueError with the reason otherwise."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        raise ValueError(
            f"{text!r} is a day, not an hour: this file is hourly (header datetime), one granularity a file"
        )
    if len(text) != 16 or text[10] != "T" or text[13] != ":":
        raise ValueError(f"datetime {text!r} is not YYYY-MM-DDTHH:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"datetime {text!r} is not YYYY-MM-DDTHH:00") from None
    if moment.minute:
        raise ValueError(f"datetime {text!r} is not the start of an hour (YYYY-MM-DDTHH:00)")
    return moment


@dataclass
class _Rows:
    """The file's columns: hour (since 1970), series and metric codes, value, line."""

    series: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    hours: dict[str, int] = field(default_factory=dict)
    hour: array[int] = field(default_factory=lambda: array("q"))
    series_code: array[int] = field(default_factory=lambda: array("q"))
    metric_code: array[int] = field(default_factory=lambda: array("q"))
    line: array[int] = field(default_factory=lambda: array("q"))
    value: array[float] = field(default_factory=lambda: array("d"))

    def add(self, row: list[str], where: str) -> None:
        text, s, m, v = row
        hour = self.hours.get(text)
        if hour is None:
            try:
                hour = self.hours[text] = int((parse_hour(text) - _EPOCH) // HOUR)
            except ValueError as exc:
                raise InputError(f"{where}: {exc}") from None
        value = checked_value(m, v, where)
        self.hour.append(hour)
        self.series_code.append(self.series.setdefault(s, len(self.series)))
        self.metric_code.append(self.metrics.setdefault(m, len(self.metrics)))
        self.value.append(value)


def _read_rows(path: Path) -> _Rows:
    name = path.name
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    rows = _Rows()
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{name}:1: file is empty, expected header {','.join(HEADER)!r}")
            if tuple(h.strip() for h in header) != HEADER:
                raise InputError(f"{name}:1: expected header {','.join(HEADER)!r}, got {','.join(header)!r}")
            for row in reader:
                if len(row) != 4:
                    if not row:
                        continue
                    raise InputError(
                        f"{name}:{reader.line_num}: expected 4 fields (datetime,series,metric,value), got {len(row)}"
                    )
                rows.add(row, f"{name}:{reader.line_num}")
                rows.line.append(reader.line_num)
        except UnicodeDecodeError:
            raise InputError(f"{name}:{reader.line_num + 1}: not UTF-8 text") from None
        except csv.Error as exc:
            raise InputError(f"{name}:{reader.line_num}: {exc}") from None
    if not rows.value:
        raise InputError(f"{name}:2: no data rows after the header")
    return rows


def read_hourly_csv(path: Path, *, property: str = "csv") -> tuple[HourlyPanel, ...]:
    """``path`` as hourly panels, one per metric over the file's hours (NaN where absent)."""
    rows = _read_rows(path)
    hour_of = np.frombuffer(rows.hour, dtype=np.int64)
    s_of, m_of = np.frombuffer(rows.series_code, dtype=np.int64), np.frombuffer(rows.metric_code, dtype=np.int64)
    first = int(hour_of.min())
    span = int(hour_of.max()) - first + 1
    key = (m_of * len(rows.series) + s_of) * span + (hour_of - first)
    again = _repeated(key, np.frombuffer(rows.line, dtype=np.int64))
    if again is not None:
        at, line, earlier = again
        text = f"{_EPOCH + int(hour_of[at]) * HOUR:%Y-%m-%dT%H:%M}"
        what = f"{text} {list(rows.series)[s_of[at]]} {list(rows.metrics)[m_of[at]]}"
        raise InputError(f"{path.name}:{line}: duplicate row for {what} (first at line {earlier})")
    start = _EPOCH + first * HOUR
    names_of = list(rows.series)
    value_of = np.frombuffer(rows.value, dtype=np.float64)
    panels = []
    for metric, code in sorted(rows.metrics.items()):
        mine = m_of == code
        names = series_order(names_of[c] for c in np.unique(s_of[mine]).tolist())
        position = np.full(len(names_of), -1, dtype=np.int64)
        position[[rows.series[n] for n in names]] = np.arange(len(names))
        grid = np.full((len(names), span), np.nan)
        grid[position[s_of[mine]], hour_of[mine] - first] = value_of[mine]
        panels.append(HourlyPanel(property, metric, names, start, grid))
    return tuple(panels)


def _repeated(key: np.ndarray, lines: np.ndarray) -> tuple[int, int, int] | None:
    """The first row repeating an earlier (datetime, series, metric) ``key``: its index,
    line and the earlier line; None when every key is unique."""
    order = np.argsort(key, kind="stable")  # equal keys keep the file's order
    same = np.flatnonzero(key[order][1:] == key[order][:-1])
    if not same.size:
        return None
    pick = same[np.argmin(lines[order[same + 1]])]
    return int(order[pick + 1]), int(lines[order[pick + 1]]), int(lines[order[pick]])
