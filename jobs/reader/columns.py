"""A metrics file (CSV or Parquet) as columns: polars parses, numpy holds the result.

One row per data record: a day number, a series code and a metric code (dense, into the
name tuples), a value. Series and metrics are categoricals with private categories (a
fresh mapping per read: codes start at 0, and a long-lived worker's global string cache
does not grow with every file). Nothing per row is ever a Python object.

Checks, all vectorised: the header (or Parquet's column names), each date exactly
``YYYY-MM-DD``, each value a finite number, counts not negative. A row that fails is
handed to :mod:`jobs.reader.exact`, which names its line in the words users see.
Duplicate rows are found by :func:`first_duplicate` where codes are scattered anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from jobs.domain import COUNT_METRICS
from jobs.errors import InputError
from jobs.reader import exact
from jobs.reader.header import HEADER, Kind, sniff

if TYPE_CHECKING:
    import polars as pl

__all__ = ["EPOCH", "Columns", "from_frame", "read_columns"]

EPOCH = date(1970, 1, 1)
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Columns:
    """The rows of a metrics file. ``day`` counts days since :data:`EPOCH`; ``row`` is
    each row's index among the file's data records (for naming lines in errors)."""

    path: Path
    series: tuple[str, ...]
    metrics: tuple[str, ...]
    day: npt.NDArray[np.int32]
    series_code: npt.NDArray[np.uint32]
    metric_code: npt.NDArray[np.uint32]
    value: npt.NDArray[np.float64]
    row: npt.NDArray[np.uint32]
    parquet: bool = False

    def __len__(self) -> int:
        return int(self.value.size)

    def date_of(self, day: int) -> date:
        return EPOCH + timedelta(days=int(day))

    def newest(self) -> date | None:
        """The newest date, or None without rows."""
        return self.date_of(int(self.day.max())) if len(self) else None

    def since(self, first: date) -> Columns:
        """Only the rows dated ``first`` or later (self when that is all of them)."""
        cut = (first - EPOCH).days
        if not len(self) or int(self.day.min()) >= cut:
            return self
        keep = self.day >= cut
        return replace(
            self,
            day=self.day[keep],
            series_code=self.series_code[keep],
            metric_code=self.metric_code[keep],
            value=self.value[keep],
            row=self.row[keep],
        )

    def where(self, row: int) -> str:
        """``FILE:LINE`` of a data record (Parquet: its 1-based row number)."""
        if self.parquet:
            return f"{self.path.name}:{row + 1}"
        return f"{self.path.name}:{exact.line_of(self.path, [row])[row]}"


def _frame(lazy: pl.LazyFrame, since: date | None) -> pl.DataFrame:
    """Parse, type and (with ``since``) window the rows; ``bad`` marks a row that fails a
    check (date not exactly ``YYYY-MM-DD``, value not a finite number, negative count)."""
    import polars as pl

    text, value = pl.col("date"), pl.col("value")
    day = text.str.to_date("%Y-%m-%d", strict=False)
    blank = text.is_null() & pl.col("series").is_null() & pl.col("metric").is_null() & value.is_null()
    lazy = lazy.filter(~blank).with_columns(day.alias("day"))
    if since is not None:  # rows too old to matter are dropped as they are parsed; bad dates are kept
        lazy = lazy.filter(pl.col("day").is_null() | (pl.col("day") >= since))
    bad = (
        pl.col("day").is_null()
        | (text.str.len_bytes() != 10)
        | value.is_null()
        | ~value.is_finite()
        | ((value < 0) & pl.col("metric").is_in(sorted(COUNT_METRICS)))
    )
    return lazy.select(
        "row",
        pl.col("day").to_physical().fill_null(0),
        bad.alias("bad"),
        pl.col("series").fill_null("").cast(pl.Categorical(pl.Categories.random())),
        pl.col("metric").fill_null("").cast(pl.Categorical(pl.Categories.random())),
        value.fill_null(float("nan")),
    ).collect(engine="streaming")


def _coded(column: pl.Series) -> tuple[tuple[str, ...], npt.NDArray[np.uint32]]:
    """A categorical column as (names, codes into them). Private categories number the
    names 0..n-1 as they are met; should a concurrent cast have left a number unused, the
    codes are renumbered so that every name is used and every code names one."""
    import polars as pl

    found = column.unique()
    physical = found.to_physical().to_numpy()
    names = found.cast(pl.String).to_list()
    codes = column.to_physical().to_numpy()
    order = np.argsort(physical, kind="stable")
    if physical.size and int(physical[order[-1]]) == physical.size - 1:
        return tuple(names[i] for i in order.tolist()), codes
    lut = np.zeros(int(physical.max(initial=0)) + 1, dtype=np.uint32)
    lut[physical] = np.arange(physical.size, dtype=np.uint32)
    return tuple(names), lut[codes]


def _csv(path: Path) -> pl.LazyFrame:
    import polars as pl

    schema = {"date": pl.String, "series": pl.String, "metric": pl.String, "value": pl.Float64}
    return pl.scan_csv(path, schema=schema, has_header=True, row_index_name="row", encoding="utf8")


def _parquet(path: Path) -> pl.LazyFrame:
    import polars as pl

    try:
        names = list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path.name}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in HEADER if c not in names]
    if missing:
        raise InputError(
            f"{path.name}: expected columns {','.join(HEADER)!r}, got {','.join(names)!r} (missing {','.join(missing)})"
        )
    lazy = pl.scan_parquet(path).with_row_index("row").select("row", *HEADER)
    return lazy.with_columns(
        pl.col("date").cast(pl.String),  # a Date column prints as YYYY-MM-DD; text is checked like CSV's
        pl.col("series").cast(pl.String),
        pl.col("metric").cast(pl.String),
        pl.col("value").cast(pl.Float64, strict=False),
    )


def _exact(path: Path) -> pl.LazyFrame:
    """The exact reader's records as a frame: for files polars refuses but Python accepts."""
    import polars as pl

    days, series, metrics, values, rows = exact.read_records(path)
    if not values:
        raise InputError(f"{path.name}:2: no data rows after the header")
    return pl.LazyFrame(
        {"row": rows, "date": days, "series": series, "metric": metrics, "value": values},
        schema={"row": pl.UInt32, "date": pl.String, "series": pl.String, "metric": pl.String, "value": pl.Float64},
    )


def read_columns(path: Path, *, since: date | None = None) -> Columns:
    """Every row of ``path`` dated ``since`` or later (all rows without it), checked.

    Raises :class:`InputError` with one line ``FILE:LINE: reason`` for the first wrong
    row, an unreadable file, a wrong header. Duplicates are not looked for here
    (:func:`jobs.reader.first_duplicate`).
    """
    import polars as pl

    kind = sniff(path)
    try:
        frame = _frame(_parquet(path) if kind is Kind.PARQUET else _csv(path), since)
    except pl.exceptions.ComputeError:
        if kind is Kind.PARQUET:
            raise InputError(f"{path.name}: not a readable Parquet file of date,series,metric,value") from None
        # a record polars cannot type: the exact reader names it, or reads what Python accepts
        frame = _frame(_exact(path), since)
    if frame.height == 0 and since is None:
        raise InputError(f"{path.name}:2: no data rows after the header")
    cols = _columns(path, frame, parquet=kind is Kind.PARQUET)
    if frame["bad"].any():
        _report(cols, frame, int(frame["bad"].arg_max() or 0))
        # Python accepts what polars did not (e.g. " 12"): read it the exact way
        frame = _frame(_exact(path), since)
        cols = _columns(path, frame, parquet=False)
    return cols


def from_frame(frame: pl.DataFrame | pl.LazyFrame, *, path: Path) -> Columns:
    """Columns of rows that come checked from elsewhere (storage): ``day`` (Date), ``series``
    and ``metric`` (text), ``value`` (float, null for a point to leave out: NaN)."""
    import polars as pl

    typed = frame.lazy().select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        pl.col("day").cast(pl.Date).to_physical(),
        pl.col("series").cast(pl.Categorical(pl.Categories.random())),
        pl.col("metric").cast(pl.Categorical(pl.Categories.random())),
        pl.col("value").cast(pl.Float64).fill_null(float("nan")),
    )
    return _columns(path, typed.collect(engine="streaming"), parquet=False)


def _columns(path: Path, frame: pl.DataFrame, *, parquet: bool) -> Columns:
    series, series_code = _coded(frame["series"])
    metrics, metric_code = _coded(frame["metric"])
    return Columns(
        path=path,
        series=series,
        metrics=metrics,
        day=frame["day"].to_numpy(),
        series_code=series_code,
        metric_code=metric_code,
        value=frame["value"].to_numpy(),
        row=frame["row"].to_numpy(),
        parquet=parquet,
    )


def _report(cols: Columns, frame: pl.DataFrame, at: int) -> None:
    """Raise the error of the row at position ``at`` (the first bad one). Returns only if
    the exact reader finds nothing wrong with a CSV's row (polars refused a form Python
    reads): the caller then reads the file the exact way."""
    import polars as pl

    row = int(cols.row[at])
    if not cols.parquet:
        exact.first_mistake(cols.path, through=row)
        return
    (record,) = pl.scan_parquet(cols.path).slice(row, 1).select(*HEADER).collect().rows()
    day, series, metric, value = record
    text = "" if value is None else str(int(value)) if float(value).is_integer() else repr(float(value))
    fields = ["" if day is None else str(day), str(series), str(metric), text]
    exact.check_record(fields, cols.where(row))
    raise InputError(f"{cols.where(row)}: row {fields!r} cannot be read")  # pragma: no cover - checks agree
