"""Storing a whole checked file of points at once (``barometer import``), fast and atomic.

The rows come as :class:`jobs.reader.Columns` (numpy codes and values, never one object
per row) and go in streamed chunks (:data:`CHUNK_ROWS` rows on SQLite, 16 MB of padded
rows on PostgreSQL), all in one transaction: a
failure stores nothing. Existing points are replaced, except that an analyst's EXCLUDED
mark survives (as in :func:`jobs.storage.repo.upsert_points`).

The rows go in key order, (metric, day, series) with names in byte order, so the one
B-tree a point is written to (the table is keyed in day order, migration 0010) grows at
its end instead of being rewritten page by page.

- SQLite: ``executemany`` of the upsert into the rowid-less table, with an import-only
  page cache on the connection (put back afterwards).
- PostgreSQL: binary ``COPY`` (psycopg), each chunk built by numpy, so the server parses
  no text (a server-side COPY of the 9.1M-point bench file: 28.6 s as CSV, 19.0 s binary;
  the rest is the key's B-tree). Into a
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
    and PostgreSQL's ``COLLATE "C"``).

    One number per row, (metric rank, day, series rank) in mixed radix, sorted stably: a
    file written in date order is nearly in key order already, and that sort then only
    merges a few runs (0.04 s for 9.1M rows instead of 0.9 s by ``np.lexsort``)."""
    series_rank = np.empty(len(cols.series), dtype=np.int64)
    series_rank[sorted(range(len(cols.series)), key=cols.series.__getitem__)] = np.arange(len(cols.series))
    metric_rank = np.empty(len(cols.metrics), dtype=np.int64)
    metric_rank[sorted(range(len(cols.metrics)), key=cols.metrics.__getitem__)] = np.arange(len(cols.metrics))
    first = int(cols.day.min())
    n_days = int(cols.day.max()) - first + 1
    if len(cols.metrics) * n_days * len(cols.series) >= 2**63:  # pragma: no cover - beyond any real file
        return np.lexsort((series_rank[cols.series_code], cols.day, metric_rank[cols.metric_code]))
    key = metric_rank[cols.metric_code] * n_days
    key += cols.day - first
    key *= len(cols.series)
    key += series_rank[cols.series_code]
    return np.argsort(key, kind="stable")


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


#: PostgreSQL's binary COPY: the signature, no flags, no header extension; the trailer.
_PGCOPY = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_PGCOPY_END = b"\xff\xff"
#: Columns in the order each binary tuple carries them: the fixed-width ones first.
_BINARY_COLUMNS = "property_id, day, value, flags, metric, series"
#: A tuple's fixed-width start: field count, then (length, value) for each fixed column.
_FIXED = np.dtype(
    [
        ("fields", ">i2"),
        ("property_id_len", ">i4"),
        ("property_id", ">i4"),
        ("day_len", ">i4"),
        ("day", ">i4"),
        ("value_len", ">i4"),
        ("value", ">f8"),
        ("flags_len", ">i4"),
        ("flags", ">i4"),
    ]
)
#: PostgreSQL counts days from 2000-01-01; :class:`Columns` from 1970-01-01.
_PG_EPOCH_DAYS = 10_957
#: Bytes of one binary chunk as it is built (padded rows), so that long names mean fewer rows.
_CHUNK_BYTES = 16 << 20


def _fields(names: tuple[str, ...]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Each name as a binary COPY field (big-endian length, UTF-8 bytes), one padded row
    per name, and which bytes of each row are the field's."""
    encoded = [name.encode("utf-8") for name in names]
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    width = max(1, int(lengths.max(initial=0)))
    rows = np.zeros((len(encoded), 4 + width), dtype=np.uint8)
    rows[:, :4] = lengths.astype(">i4").view(np.uint8).reshape(-1, 4)
    rows[:, 4:] = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(-1, width)
    return rows, np.arange(4 + width)[None, :] < (4 + lengths)[:, None]


def _binary_chunks(cols: Columns, prop_id: int, order: npt.NDArray[np.int64]) -> Iterator[bytes]:
    """The rows (in ``order``) as PostgreSQL binary COPY data in ``_BINARY_COLUMNS`` order,
    built by numpy: each chunk's rows are laid out padded to the longest names, then the
    padding is dropped in one pass."""
    metric_rows, metric_keep = _fields(cols.metrics)
    series_rows, series_keep = _fields(cols.series)
    fixed, metric_end = _FIXED.itemsize, _FIXED.itemsize + metric_rows.shape[1]
    width = metric_end + series_rows.shape[1]
    yield _PGCOPY
    step = max(1, _CHUNK_BYTES // width)
    for start in range(0, order.size, step):
        at = order[start : start + step]
        head = np.empty(at.size, dtype=_FIXED)
        head["fields"] = 6
        head["property_id_len"], head["property_id"] = 4, prop_id
        head["day_len"], head["day"] = 4, cols.day[at] - _PG_EPOCH_DAYS
        head["value_len"], head["value"] = 8, cols.value[at]
        head["flags_len"], head["flags"] = 4, 0
        metric, series = cols.metric_code[at], cols.series_code[at]
        padded = np.empty((at.size, width), dtype=np.uint8)
        keep = np.empty((at.size, width), dtype=np.bool_)
        padded[:, :fixed], keep[:, :fixed] = head.view(np.uint8).reshape(at.size, fixed), True
        padded[:, fixed:metric_end], keep[:, fixed:metric_end] = metric_rows[metric], metric_keep[metric]
        padded[:, metric_end:], keep[:, metric_end:] = series_rows[series], series_keep[series]
        yield padded[keep].tobytes()
    yield _PGCOPY_END


def _postgresql(engine: sa.Engine, prop_id: int, cols: Columns) -> None:
    from psycopg.copy import QueuedLibpqWriter

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
            sql = f"COPY {target} ({_BINARY_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
            # a thread sends while numpy builds the next chunk
            with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
                for data in _binary_chunks(cols, prop_id, _key_order(cols)):
                    copy.write(data)
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
