"""The metrics CSV: ``date,series,metric,value``, one row per day x series x metric.

``series`` is ``total`` or ``"{dimension}:{value}"`` (see :mod:`jobs.sources`); counts
(:data:`jobs.domain.COUNT_METRICS`) must not be negative; ``ctr`` is derived downstream
from clicks and impressions. Reading is :mod:`jobs.reader`'s (CSV or Parquet, one line
``FILE:LINE: what is wrong`` for any problem, nothing partial returned); this module
keeps the Observation-level helpers and the writer ``barometer export`` uses.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from jobs.domain import MetricPanel, Observation
from jobs.reader import HEADER, first_duplicate, read_columns, to_panels

__all__ = ["HEADER", "read_metrics_csv", "read_panels_csv", "write_metrics_csv"]


def read_metrics_csv(path: Path, *, property: str) -> tuple[Observation, ...]:
    """Every row of ``path`` as an :class:`Observation` of ``property`` (all final).

    One object per row: for small files and tests; bulk work uses :func:`jobs.reader.read_columns`.
    """
    cols = read_columns(path)
    first_duplicate(cols)
    epoch = date(1970, 1, 1)
    return tuple(
        Observation(property, cols.series[s], cols.metrics[m], epoch + timedelta(days=d), v)
        for d, s, m, v in zip(
            cols.day.tolist(), cols.series_code.tolist(), cols.metric_code.tolist(), cols.value.tolist(), strict=True
        )
    )


def read_panels_csv(path: Path, *, property: str = "csv", since: date | None = None) -> tuple[MetricPanel, ...]:
    """``path`` as panels (one per metric, shared date axis, NaN where absent), plus ``ctr``;
    only rows dated ``since`` or later when given. Imported data count as final:
    ``last_final`` is the file's newest date."""
    return to_panels(read_columns(path, since=since), property=property)


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
