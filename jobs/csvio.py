"""The metrics CSV: ``date,series,metric,value``, one row per day x series x metric.

``series`` is ``total`` or ``"{dimension}:{value}"`` (see :mod:`jobs.sources`); counts
(:data:`jobs.domain.COUNT_METRICS`) must not be negative; ``ctr`` is derived downstream
from clicks and impressions. Any problem raises :class:`jobs.errors.InputError` with one
line ``FILE:LINE: what is wrong``, and nothing partial is returned.

Plain files (what ``barometer export`` writes) are read by :mod:`jobs.csvfast`, a vectorised
reader that keeps columns, not rows; anything else, or anything wrong, goes through the exact
row-by-row reader here, which names the line. Both give the same values.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from jobs.csvfast import Plain, parse_plain
from jobs.detection.panels import derive_ctr, series_order
from jobs.domain import COUNT_METRICS, MetricPanel, Observation
from jobs.errors import InputError

__all__ = ["HEADER", "read_metrics_csv", "read_panels_csv", "write_metrics_csv"]

HEADER = ("date", "series", "metric", "value")
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


def _clean(plain: Plain) -> bool:
    """Values finite, counts not negative, no (date, series, metric) twice."""
    if not np.isfinite(plain.value).all():
        return False
    counts = np.array([name in COUNT_METRICS for name in plain.metrics], dtype=np.bool_)[plain.pair_metric]
    if plain.pair is None:  # one line per pair and day by construction
        # (each pair's smallest value, not a copy of the count columns: the values are finite)
        return not (counts & (plain.value.reshape(-1, plain.period).min(axis=0) < 0)).any()
    if (counts[plain.pair] & (plain.value < 0)).any():
        return False
    span = int(plain.day.max() - plain.day.min()) + 1
    key = (plain.day - plain.day.min()) * plain.pair_series.size + plain.pair
    if span * plain.pair_series.size <= 50_000_000:
        return not (np.bincount(key, minlength=span * plain.pair_series.size) > 1).any()
    return bool(np.unique(key).size == key.size)


def _read(path: Path) -> Plain | _Columns:
    """The fast reader's columns when the file is plain and clean; otherwise the exact
    reader's, which raises :class:`InputError` naming the first bad line."""
    plain = parse_plain(path)
    if plain is not None and _clean(plain):
        return plain
    return _parse_exact(path)


def _columns(path: Path) -> _Columns:
    found = _read(path)
    if isinstance(found, _Columns):
        return found
    day, series_code, metric_code = found.lines()
    return _Columns(found.series, found.metrics, day, series_code, metric_code, found.value)


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
    cols = _columns(path)
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
    found = _read(path)
    if isinstance(found, Plain) and found.pair is None:
        return derive_ctr(_periodic_panels(found, property))
    cols = found if isinstance(found, _Columns) else _columns_of(found)
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


def _columns_of(plain: Plain) -> _Columns:
    day, series_code, metric_code = plain.lines()
    return _Columns(plain.series, plain.metrics, day, series_code, metric_code, plain.value)


def _periodic_panels(plain: Plain, prop: str) -> list[MetricPanel]:
    """Panels of a file whose days each list the same pairs in the same order: the values
    reshape into (days, pairs), each metric's columns are a panel's rows — no scatter."""
    first, last = int(plain.day.min()), int(plain.day.max())
    axis = tuple(date.fromordinal(first) + timedelta(days=i) for i in range(last - first + 1))
    grid = plain.value.reshape(-1, plain.period)
    cols = plain.day - first
    full = cols.size == len(axis) and bool((cols == np.arange(len(axis))).all())
    panels: list[MetricPanel] = []
    for m_code in sorted(range(len(plain.metrics)), key=lambda c: plain.metrics[c]):
        pairs = np.flatnonzero(plain.pair_metric == m_code)
        names_of = {plain.series[int(plain.pair_series[j])]: int(j) for j in pairs}
        names = series_order(names_of)
        order = np.array([names_of[n] for n in names], dtype=np.int64)
        if full:
            values = grid.T[order]  # one gather, rows already contiguous
        else:
            values = np.full((len(names), len(axis)), np.nan)
            values[:, cols] = grid[:, order].T
        panels.append(MetricPanel(prop, plain.metrics[m_code], names, axis, values, axis[-1]))
    return panels


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
