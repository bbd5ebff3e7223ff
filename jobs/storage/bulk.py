"""Storing a whole checked file of points at once (``barometer import``), fast and atomic.

The rows come as :class:`jobs.reader.Columns` (numpy codes and values, never one object
per row) and go in streamed chunks of :data:`CHUNK_ROWS`, all in one transaction: a
failure stores nothing. Existing points are replaced, except that an analyst's EXCLUDED
mark survives (as in :func:`jobs.storage.repo.upsert_points`).

The rows go in key order, (metric, day, series) with names in byte order, so the one
B-tree a point is written to (the table is keyed in day order, migration 0010) grows at
its end instead of being rewritten page by page.

- SQLite: ``executemany`` of the upsert into the rowid-less table, with an import-only
  page cache on the connection (put back afterwards).
- PostgreSQL: ``COPY`` (psycopg), each chunk written as CSV text by polars. Into a
  property with no stored points in the file's date range the rows are copied straight
  into ``metric_point``; otherwise into a temporary table, merged with one
  ``INSERT ... SELECT ... ON CONFLICT``. Then ``VACUUM (ANALYZE)``, so the next panel load
  is an index-only scan of the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from jobs.domain import PointFlag
from jobs.reader import Columns
from jobs.storage.repo import lock_property

__all__ = ["CHUNK_ROWS", "store_columns"]

#: Rows per executemany / COPY chunk: flat memory, few round trips.
CHUNK_ROWS = 100_000

_COLUMNS = "property_id, metric, series, day, value, flags"
_KEY = "(property_id, metric, series, day)"
_KEEP = f"value = excluded.value, flags = (metric_point.flags & {int(PointFlag.EXCLUDED)}) | excluded.flags"


def _key_order(cols: Columns) -> npt.NDArray[np.int64]:
    """Row positions in the key's (metric, day, series) order, names compared as the
    database does (code points: Python's str order is UTF-8 byte order, which is SQLite's
    and PostgreSQL's ``COLLATE "C"``)."""
    series_rank = np.empty(len(cols.series), dtype=np.int64)
    series_rank[sorted(range(len(cols.series)), key=cols.series.__getitem__)] = np.arange(len(cols.series))
    metric_rank = np.empty(len(cols.metrics), dtype=np.int64)
    metric_rank[sorted(range(len(cols.metrics)), key=cols.metrics.__getitem__)] = np.arange(len(cols.metrics))
    return np.lexsort((series_rank[cols.series_code], cols.day, metric_rank[cols.metric_code]))


def _chunks(cols: Columns, order: npt.NDArray[np.int64]) -> Iterator[tuple[list[Any], ...]]:
    """(metric, series, ISO day, value) lists per chunk, names shared, not copied per row."""
    names = np.array(cols.series, dtype=object)
    metrics = np.array(cols.metrics, dtype=object)
    first = int(cols.day.min())
    days = np.array(
        [cols.date_of(first).isoformat()]
        + [(cols.date_of(first) + timedelta(days=i)).isoformat() for i in range(1, int(cols.day.max()) - first + 1)],
        dtype=object,
    )
    for start in range(0, order.size, CHUNK_ROWS):
        at = order[start : start + CHUNK_ROWS]
        yield (
            metrics[cols.metric_code[at]].tolist(),
            names[cols.series_code[at]].tolist(),
            days[cols.day[at] - first].tolist(),
            cols.value[at].tolist(),
        )


def _sqlite(engine: sa.Engine, prop_id: int, cols: Columns) -> None:
    sql = (
        f"INSERT INTO metric_point ({_COLUMNS}) VALUES ({int(prop_id)}, ?, ?, ?, ?, 0) "
        f"ON CONFLICT {_KEY} DO UPDATE SET {_KEEP}"
    )
    raw = engine.raw_connection()
    try:
        dbapi: Any = raw.driver_connection
        dbapi.commit()
        # a 128 MB page cache (WAL's synchronous=NORMAL stays: one fsync at checkpoints, and a
        # crash cannot corrupt the database)
        dbapi.execute("PRAGMA cache_size=-131072")
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            lock_property(dbapi, prop_id)
            for metric, series, day, value in _chunks(cols, _key_order(cols)):
                dbapi.executemany(sql, zip(metric, series, day, value, strict=True))
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        finally:
            dbapi.execute("PRAGMA cache_size=-2000")
    finally:
        raw.close()


def _csv_chunks(cols: Columns, prop_id: int, order: npt.NDArray[np.int64]) -> Iterator[bytes]:
    """Each chunk of rows (in ``order``) as CSV text in ``_COLUMNS`` order, written by polars."""
    import polars as pl

    names = pl.Series(cols.series, dtype=pl.String)
    metrics = pl.Series(cols.metrics, dtype=pl.String)
    for start in range(0, order.size, CHUNK_ROWS):
        at = order[start : start + CHUNK_ROWS]
        frame = pl.DataFrame(
            {
                "property_id": np.full(at.size, prop_id, dtype=np.int64),
                "metric": metrics.gather(cols.metric_code[at]),
                "series": names.gather(cols.series_code[at]),
                "day": pl.Series(cols.day[at]).cast(pl.Date),
                "value": cols.value[at],
                "flags": np.zeros(at.size, dtype=np.int64),
            }
        )
        yield frame.write_csv(include_header=False, float_precision=None).encode("utf-8")


def _postgresql(engine: sa.Engine, prop_id: int, cols: Columns) -> None:
    first, last = cols.date_of(int(cols.day.min())), cols.date_of(int(cols.day.max()))
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.transaction(), conn.cursor() as cur:
            lock_property(conn, prop_id)
            cur.execute(
                "SELECT 1 FROM metric_point WHERE property_id = %s AND day BETWEEN %s AND %s LIMIT 1",
                (prop_id, first, last),
            )
            target = "metric_point" if cur.fetchone() is None else "import_point"
            if target != "metric_point":
                cur.execute(f"CREATE TEMP TABLE {target} (LIKE metric_point INCLUDING DEFAULTS) ON COMMIT DROP")
            with cur.copy(f"COPY {target} ({_COLUMNS}) FROM STDIN WITH (FORMAT csv)") as copy:
                for text in _csv_chunks(cols, prop_id, _key_order(cols)):
                    copy.write(text)
            if target != "metric_point":
                cur.execute(
                    f"INSERT INTO metric_point ({_COLUMNS}) SELECT {_COLUMNS} FROM {target} "
                    f"ON CONFLICT {_KEY} DO UPDATE SET {_KEEP}"
                )
        # statistics and the visibility map now, not at autovacuum's leisure: the next panel
        # load is then an index-only scan (measured: 8.2 s -> 4.6 s for 7.1M points)
        conn.autocommit = True  # VACUUM runs outside a transaction
        try:
            conn.execute("VACUUM (ANALYZE) metric_point")
        finally:
            conn.autocommit = False  # as the pool handed it out
    finally:
        raw.close()


def store_columns(engine: sa.Engine, prop_id: int, cols: Columns) -> int:
    """Store every row of ``cols`` (checked, no duplicates) under ``prop_id``, atomically;
    return rows written."""
    if not len(cols):
        return 0
    if engine.dialect.name == "sqlite":
        _sqlite(engine, prop_id, cols)
    elif engine.dialect.name == "postgresql":
        _postgresql(engine, prop_id, cols)
    else:
        raise NotImplementedError(
            f"database dialect {engine.dialect.name!r} is not supported (use SQLite or PostgreSQL)"
        )
    return len(cols)
