"""Loading stored points as panels, fast: columns, never one Python object per point.

The database aggregates each (metric, day) into two values — the series names and their
values, in the same order — read from the table, which is keyed in (metric, day, series)
order (migration 0010). Python then handles a few hundred rows instead of millions:
values are parsed by numpy, and a day that lists its series in the same order as the day
before (the usual case, since each fetch writes them in one order) reuses that day's row
positions without looking at a single name.

Names are joined by ``\\x1f`` (a property with the separator in a name is loaded row by
row instead).

- SQLite: values joined by ``,`` as text.
- PostgreSQL: values as the bytes of big-endian doubles (``float8send``), read by numpy
  as they are.

Both by one query per half of the window, the two halves at once on two connections.

Flagged points (incomplete, thresholded, sampled, excluded by an analyst) become NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from jobs.detection.panels import series_order
from jobs.domain import FloatArray, MetricPanel

__all__ = ["STORED_METRICS", "load_panels", "stored_metrics"]

_SEP = "\x1f"
#: (names, values) aggregates; both must list a day's points in the same (series) order.
_AGGREGATES = {
    "sqlite": ("group_concat(series, char(31))", "group_concat(value, ',')"),
    # no ORDER BY in the aggregates: both are fed the same rows in the same order by one
    # aggregation (an ordered aggregate would sort each day again: 7.4 s instead of 4.0 s)
    "postgresql": ("string_agg(series, chr(31))", "string_agg(float8send(value), decode('', 'hex'))"),
}


#: ``stored(metric)``: a property's (``:prop``) stored metrics, found by a skip scan of the
#: key (the next metric is the smallest name after the last): a few look-ups per metric
STORED_METRICS = """
WITH RECURSIVE stored(metric) AS (
    SELECT min(metric) FROM metric_point WHERE property_id = :prop
    UNION ALL
    SELECT (SELECT min(metric) FROM metric_point WHERE property_id = :prop AND metric > stored.metric)
    FROM stored WHERE stored.metric IS NOT NULL
)"""


def stored_metrics(engine: sa.Engine, prop_id: int) -> tuple[str, ...]:
    """The names of the metrics stored for the property, in key order."""
    sql = f"{STORED_METRICS} SELECT metric FROM stored WHERE metric IS NOT NULL"
    with engine.connect() as conn:
        return tuple(str(m) for (m,) in conn.execute(sa.text(sql), {"prop": prop_id}))


class _Irregular(Exception):
    """A name with the separator in it: load row by row instead."""


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _text(value: object) -> str | bytes:
    """An aggregate as it came: bytes (PostgreSQL's bytea) or text."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else str(value)


def _bind(engine: sa.Engine, day: date) -> object:
    return day.isoformat() if engine.dialect.name == "sqlite" else day


def load_panels(
    engine: sa.Engine,
    prop_id: int,
    *,
    prop_name: str,
    start: date,
    end: date,
    last_final: date,
    metrics: Sequence[str] = (),
) -> tuple[MetricPanel, ...] | None:
    """One panel per stored metric over ``start..end``, or None if the fast path cannot
    load this property (then the caller loads it row by row)."""
    # the metrics named, so that the day range bounds the key's range (property, metric, day)
    # instead of filtering every stored day of the property
    metrics = tuple(metrics) or stored_metrics(engine, prop_id)
    if not metrics:
        return ()
    where = "property_id = :prop AND day >= :start AND day <= :end"
    params: dict[str, object] = {"prop": prop_id, "start": _bind(engine, start), "end": _bind(engine, end)}
    where += " AND metric IN ({})".format(", ".join(f":m{i}" for i in range(len(metrics))))
    params.update({f"m{i}": m for i, m in enumerate(metrics)})
    rows = _aggregated(engine, where, params)
    if rows is None:
        return None
    flagged = {}
    if any(r[3] for r in rows):
        with engine.connect() as conn:
            flagged = _flagged(conn, where, params)
    n_days = (end - start).days + 1
    dates = tuple(start + timedelta(days=i) for i in range(n_days))
    by_metric: dict[str, list[tuple[int, int, str, str | bytes]]] = {}
    for metric, day, count, _flags, names, values in rows:
        by_metric.setdefault(str(metric), []).append(((_day(day) - start).days, int(count), str(names), _text(values)))
    try:
        return tuple(
            _panel(prop_name, metric, days, dates=dates, last_final=last_final, flagged=flagged.get(metric, {}))
            for metric, days in by_metric.items()
        )
    except _Irregular:
        return None


def _query(engine: sa.Engine, select: str, where: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
    sql = f"SELECT metric, day, {select} FROM metric_point WHERE {where} GROUP BY metric, day ORDER BY metric, day"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # for this query only: group the key's order as it is read (a hash aggregate
            # of millions of names spills to disk), and no JIT compiling (slower here)
            conn.exec_driver_sql("SET LOCAL enable_hashagg = off")
            conn.exec_driver_sql("SET LOCAL jit = off")
        return [tuple(row) for row in conn.execute(sa.text(sql), params).all()]


def _halves(engine: sa.Engine, select: str, where: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
    """The window's days in two halves, aggregated at once on two connections (two server
    processes; SQLite's two threads run outside the GIL): one pass over the points in all,
    half of it on each core."""
    start, end = _day(params["start"]), _day(params["end"])
    if start >= end:
        return _query(engine, select, where, params)
    middle = start + timedelta(days=(end - start).days // 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_query, engine, select, where, {**params, "end": _bind(engine, middle)})
        rest = {**params, "start": _bind(engine, middle + timedelta(days=1))}
        second = pool.submit(_query, engine, select, where, rest)
        return first.result() + second.result()


#: On SQLite, whole values print several times faster as integers than as reals; a day
#: with any fractional value is fetched again as reals.
_SQLITE_INTS = "group_concat(CAST(value AS INTEGER), ','), sum(value != CAST(value AS INTEGER))"


def _aggregated(engine: sa.Engine, where: str, params: dict[str, object]) -> list[tuple[Any, ...]] | None:
    """(metric, day, count, max flags, names, values) per metric x day, names and values
    from one aggregation (so in the same order), the two halves of the window at once."""
    names_agg, values_agg = _AGGREGATES[engine.dialect.name]
    if engine.dialect.name != "sqlite":
        return _halves(engine, f"count(*), max(flags), {names_agg}, {values_agg}", where, params)
    rows = _halves(engine, f"count(*), max(flags), {names_agg}, {_SQLITE_INTS}", where, params)
    reals: dict[tuple[Any, Any], Any] = {}
    fractional = [(r[0], r[1], r[2]) for r in rows if r[6]]
    if fractional:
        with engine.connect() as conn:
            for metric, day, expected in fractional:
                sql = f"SELECT count(*), {values_agg} FROM metric_point WHERE {where} AND metric = :mm AND day = :dd"
                count, text = conn.execute(sa.text(sql), {**params, "mm": metric, "dd": day}).one()
                if count != expected:  # a write in between: row by row instead
                    return None
                reals[metric, day] = text
    return [(r[0], r[1], r[2], r[3], r[4], reals.get((r[0], r[1]), r[5])) for r in rows]


def _flagged(conn: sa.Connection, where: str, params: dict[str, object]) -> dict[str, dict[int, set[str]]]:
    """metric -> day offset -> series whose point there is flagged."""
    query = sa.text(f"SELECT metric, day, series FROM metric_point WHERE {where} AND flags != 0")
    out: dict[str, dict[int, set[str]]] = {}
    start = _day(params["start"])
    for metric, day, series in conn.execute(query, params):
        out.setdefault(str(metric), {}).setdefault((_day(day) - start).days, set()).add(str(series))
    return out


#: 10**k as doubles, exact through 10**15 (below 2**53)
_TENS = np.power(10.0, np.arange(16))


def _whole(text: str) -> FloatArray | None:
    """Comma-separated non-negative whole numbers of at most 15 digits, parsed by numpy
    in a few passes over the bytes (twice as fast as ``np.fromstring``); None for any
    other text (a sign, a point, a longer number)."""
    chars = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8)
    comma = chars == ord(",")
    if not chars.size or not (comma | ((chars >= ord("0")) & (chars <= ord("9")))).all():
        return None
    ends = np.append(np.flatnonzero(comma), chars.size)  # each number's end (exclusive)
    if int(np.diff(ends, prepend=-1).max()) > 16:  # 15 digits and a comma
        return None
    number = np.cumsum(comma)  # which number each byte belongs to (a comma: the next)
    place = ends[number] - np.arange(chars.size) - 1  # 10**place for each digit
    digit = chars.astype(np.float64) - ord("0")
    digit[comma], place[comma] = 0.0, 0
    summed = np.bincount(number, weights=digit * _TENS[place], minlength=ends.size)
    parsed: FloatArray = summed.astype(np.float64, copy=False)
    return parsed


def _panel(
    prop: str,
    metric: str,
    days: list[tuple[int, int, str, str | bytes]],
    *,
    dates: tuple[date, ...],
    last_final: date,
    flagged: dict[int, set[str]],
) -> MetricPanel:
    index: dict[str, int] = {}
    parts: list[tuple[int, np.ndarray, FloatArray]] = []
    previous, rows = "", np.zeros(0, dtype=np.int64)
    for col, count, names, values in days:
        if names != previous:
            listed = names.split(_SEP)
            if len(listed) != count:
                raise _Irregular
            rows = np.fromiter((index.setdefault(n, len(index)) for n in listed), dtype=np.int64, count=count)
            previous = names
        whole = None if isinstance(values, bytes) else _whole(values)
        if isinstance(values, bytes):
            parsed = np.frombuffer(values, dtype=">f8").astype(np.float64)
        elif whole is not None:
            parsed = whole
        else:
            parsed = np.fromstring(values, sep=",")
        if parsed.size != count:
            raise _Irregular
        parts.append((col, rows, parsed))
    order = series_order(index)
    position = np.empty(len(index), dtype=np.int64)
    position[[index[n] for n in order]] = np.arange(len(order))
    grid = np.full((len(order), len(dates)), np.nan)
    for col, rows_of_day, parsed in parts:
        grid[position[rows_of_day], col] = parsed
    row_of = {name: i for i, name in enumerate(order)}
    for col, names_flagged in flagged.items():
        grid[[row_of[n] for n in names_flagged if n in row_of], col] = np.nan
    return MetricPanel(prop, metric, order, dates, grid, last_final)
