"""The metrics CSV: ``date,series,metric,value``, one row per day x series x metric.

``series`` is ``total`` or ``"{dimension}:{value}"`` (see :mod:`jobs.sources`); counts
(:data:`jobs.domain.COUNT_METRICS`) must not be negative; ``ctr`` is derived downstream
from clicks and impressions. Any problem raises :class:`jobs.errors.InputError` with one
line ``FILE:LINE: what is wrong``, and nothing partial is returned.

The parse keeps columns, not rows: series and metric names are interned to integer codes,
dates to day numbers and values into a float array, so :func:`read_panels_csv` scatters
millions of rows into panels with numpy.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from jobs.detection.panels import derive_ctr, series_order
from jobs.domain import COUNT_METRICS, MetricPanel, Observation
from jobs.errors import InputError

__all__ = ["HEADER", "read_metrics_csv", "read_panels_csv", "write_metrics_csv"]

HEADER = ("date", "series", "metric", "value")
_BLOCK_CHARS = 1 << 25
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Columns:
    series: list[str]  # code -> name
    metrics: list[str]
    day: IntArray  # proleptic ordinal
    series_code: IntArray
    metric_code: IntArray
    value: npt.NDArray[np.float64]


def _date(text: str, where: str) -> int:
    try:
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        return date.fromisoformat(text).toordinal()
    except ValueError:
        raise InputError(f"{where}: date {text!r} is not YYYY-MM-DD") from None


def _parse_exact(path: Path) -> _Columns:
    """Row by row, with exact line numbers: the reference parse and the error reporter."""
    name = path.name
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{name}:1: file is empty, expected header {','.join(HEADER)!r}")
        if tuple(h.strip() for h in header) != HEADER:
            raise InputError(f"{name}:1: expected header {','.join(HEADER)!r}, got {','.join(header)!r}")
        series: dict[str, int] = {}
        metrics: dict[str, int] = {}
        dates: dict[str, int] = {}
        days, s_codes, m_codes, lines = array("l"), array("l"), array("l"), array("l")
        values = array("d")
        for row in reader:
            line = reader.line_num
            if len(row) != 4:
                if not row:
                    continue
                raise InputError(f"{name}:{line}: expected 4 fields (date,series,metric,value), got {len(row)}")
            day_text, s, m, v = row
            day = dates.get(day_text)
            if day is None:
                day = dates[day_text] = _date(day_text, f"{name}:{line}")
            try:
                value = float(v)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise InputError(f"{name}:{line}: value {v!r} is not a number")
            if value < 0 and m in COUNT_METRICS:
                raise InputError(f"{name}:{line}: {m} is a count and cannot be negative, got {v}")
            days.append(day)
            s_codes.append(series.setdefault(s, len(series)))
            m_codes.append(metrics.setdefault(m, len(metrics)))
            values.append(value)
            lines.append(line)
    if not values:
        raise InputError(f"{name}:2: no data rows after the header")
    cols = _Columns(
        series=list(series),
        metrics=list(metrics),
        day=np.frombuffer(days, dtype=np.int_).astype(np.int64),
        series_code=np.frombuffer(s_codes, dtype=np.int_).astype(np.int64),
        metric_code=np.frombuffer(m_codes, dtype=np.int_).astype(np.int64),
        value=np.frombuffer(values, dtype=np.float64).copy(),
    )
    _check_duplicates(cols, np.frombuffer(lines, dtype=np.int_).astype(np.int64), name)
    return cols


def _parse(path: Path) -> _Columns:
    """The bulk parse when the file is clean; otherwise the exact one, which names the error."""
    cols = _parse_bulk(path)
    return cols if cols is not None else _parse_exact(path)


def _codes(column: list[str], known: dict[str, int]) -> IntArray:
    for name in sorted(set(column) - known.keys()):
        known[name] = len(known)
    return np.fromiter(map(known.__getitem__, column), dtype=np.int64, count=len(column))


def _blocks(handle: TextIO) -> Iterator[str]:
    """The text after the header in pieces of whole lines, each ending without its last newline."""
    rest = ""
    while piece := handle.read(_BLOCK_CHARS):
        piece = rest + piece
        cut = piece.rfind("\n")
        if cut < 0:
            rest = piece
            continue
        rest = piece[cut + 1 :]
        yield piece[:cut]
    if rest:
        yield rest


def _four_fields_per_line(block: str) -> bool:
    raw = np.frombuffer(block.encode(), dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    commas = np.flatnonzero(raw == 44)
    per_line = np.bincount(np.searchsorted(ends, commas), minlength=ends.size + 1)
    return bool((per_line == 3).all())


def _parse_bulk(path: Path) -> _Columns | None:
    """Column-wise parse of a plain file (no quotes, blank lines or CR) in large blocks, with
    C-level splits and maps and no per-row objects; None if the file is not plain or has any
    problem (the exact parse then reports it)."""
    series: dict[str, int] = {}
    metrics: dict[str, int] = {}
    dates: dict[str, int] = {}
    parts: list[tuple[IntArray, IntArray, IntArray, npt.NDArray[np.float64]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            if handle.readline().rstrip("\r\n") != ",".join(HEADER):
                return None
            for block in _blocks(handle):
                if '"' in block or "\r" in block or not _four_fields_per_line(block):
                    return None
                flat = block.replace("\n", ",").split(",")
                d, s, m, v = flat[0::4], flat[1::4], flat[2::4], flat[3::4]
                for text in set(d) - dates.keys():
                    dates[text] = _date(text, "")
                day = np.fromiter(map(dates.__getitem__, d), dtype=np.int64, count=len(d))
                parts.append((day, _codes(s, series), _codes(m, metrics), np.array(v, dtype=np.float64)))
    except (OSError, ValueError, InputError):
        return None
    if not parts:
        return None
    day, s_code, m_code, value = (np.concatenate(column) for column in zip(*parts, strict=True))
    counts = np.array([name in COUNT_METRICS for name in metrics], dtype=np.bool_)
    if not np.isfinite(value).all() or (counts[m_code] & (value < 0)).any():
        return None
    cols = _Columns(list(series), list(metrics), day, s_code, m_code, value)
    return None if _first_duplicate(cols) is not None else cols


def _first_duplicate(cols: _Columns) -> tuple[IntArray, IntArray] | None:
    """(later, earlier) row positions of every repeated (date, series, metric), or None."""
    n_s, n_m = len(cols.series), len(cols.metrics)
    key = ((cols.day - cols.day.min()) * n_s + cols.series_code) * n_m + cols.metric_code
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if not same.any():
        return None
    return order[1:][same], order[:-1][same]


def _check_duplicates(cols: _Columns, lines: IntArray, name: str) -> None:
    found = _first_duplicate(cols)
    if found is None:
        return
    later, first_of = found
    pick = int(np.argmin(lines[later]))
    row, first = int(later[pick]), int(first_of[pick])
    day = date.fromordinal(int(cols.day[row])).isoformat()
    what = f"{day} {cols.series[cols.series_code[row]]} {cols.metrics[cols.metric_code[row]]}"
    raise InputError(f"{name}:{lines[row]}: duplicate row for {what} (first at line {lines[first]})")


def read_metrics_csv(path: Path, *, property: str) -> tuple[Observation, ...]:
    """Every row of ``path`` as an :class:`Observation` of ``property`` (all final)."""
    cols = _parse(path)
    return tuple(
        Observation(property, cols.series[s], cols.metrics[m], date.fromordinal(d), v)
        for d, s, m, v in zip(
            cols.day.tolist(), cols.series_code.tolist(), cols.metric_code.tolist(), cols.value.tolist(), strict=True
        )
    )


def read_panels_csv(path: Path, *, property: str = "csv") -> tuple[MetricPanel, ...]:
    """``path`` as panels (one per metric, shared date axis, NaN where absent), plus ``ctr``.

    Imported data count as final: ``last_final`` is the file's newest date.
    """
    cols = _parse(path)
    first, last = int(cols.day.min()), int(cols.day.max())
    axis = tuple(date.fromordinal(first) + timedelta(days=i) for i in range(last - first + 1))
    code_of = {name: code for code, name in enumerate(cols.series)}
    panels: list[MetricPanel] = []
    for m_code in sorted(range(len(cols.metrics)), key=lambda c: cols.metrics[c]):
        rows = cols.metric_code == m_code
        codes = np.unique(cols.series_code[rows])
        names = series_order(cols.series[c] for c in codes.tolist())
        position = np.full(len(cols.series), -1, dtype=np.int64)
        position[[code_of[n] for n in names]] = np.arange(len(names))
        values = np.full((len(names), len(axis)), np.nan)
        values[position[cols.series_code[rows]], cols.day[rows] - first] = cols.value[rows]
        panels.append(MetricPanel(property, cols.metrics[m_code], names, axis, values, axis[-1]))
    return derive_ctr(panels)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def write_metrics_csv(observations: Iterable[Observation], out: TextIO) -> int:
    """Write ``observations`` as a metrics CSV sorted by date, series, metric; return rows written.

    Integers print without decimals (``12``), other floats round-trip exactly.
    """
    rows = sorted((ob.day, ob.series, ob.metric, ob.value) for ob in observations)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((day.isoformat(), series, metric, _number(value)) for day, series, metric, value in rows)
    return len(rows)
