"""Reading and writing barometer's state. Plain functions over a SQLAlchemy engine.

Points are written in bulk with a dialect-native upsert (SQLite and PostgreSQL both
support ``INSERT ... ON CONFLICT``), so re-fetching settling days is idempotent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from jobs.detection.panels import series_order
from jobs.domain import (
    Anomaly,
    Digest,
    Direction,
    Finding,
    Kind,
    MetricPanel,
    Observation,
    PointFlag,
    PropertySpec,
    Severity,
)
from jobs.errors import UnknownPropertyError
from jobs.storage import points
from jobs.storage.codec import decode_decomposition, decode_detail, encode_detail
from jobs.storage.layout import read_layout, write_layout
from jobs.storage.tables import DigestRow, FindingRow, MetricPointRow, PropertyRow

__all__ = [
    "HOURLY_SUFFIX",
    "ensure_property",
    "fetched_through",
    "find_digest",
    "find_scheduled",
    "finding_by_id",
    "findings_by_id",
    "findings_for",
    "iter_points",
    "latest_day",
    "load_digest",
    "load_panels",
    "property_id",
    "save_digest",
    "save_findings",
    "set_fetched_through",
    "upsert_points",
]

_POINTS = MetricPointRow.__table__  # type: ignore[attr-defined]
_FINDINGS = FindingRow.__table__  # type: ignore[attr-defined]
_DIGESTS = DigestRow.__table__  # type: ignore[attr-defined]
_PROPERTIES = PropertyRow.__table__  # type: ignore[attr-defined]

#: Rows per INSERT round trip: large enough to amortise, small enough for flat memory.
BATCH_ROWS = 5_000


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(engine: sa.Engine, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {engine.dialect.name!r} is not supported (use SQLite or PostgreSQL)")


def ensure_property(engine: sa.Engine, spec: PropertySpec) -> int:
    """The id of ``spec``'s row, created (or its source details refreshed) as needed."""
    values = {"source": spec.source, "external_id": spec.id, "timezone": spec.timezone}
    stmt = _insert(engine, _PROPERTIES).values(name=spec.name, created_at=_now(), **values)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_=values)
    with engine.begin() as conn:
        conn.execute(stmt)
        return int(conn.execute(sa.select(_PROPERTIES.c.id).where(_PROPERTIES.c.name == spec.name)).scalar_one())


def property_id(engine: sa.Engine, name: str) -> int | None:
    with engine.connect() as conn:
        found = conn.execute(sa.select(_PROPERTIES.c.id).where(_PROPERTIES.c.name == name)).scalar()
        return None if found is None else int(found)


def fetched_through(engine: sa.Engine, prop_id: int) -> date | None:
    """The newest final day fetched so far, or None before the first fetch."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(_PROPERTIES.c.fetched_through).where(_PROPERTIES.c.id == prop_id)).scalar()
    return value if isinstance(value, date) else None


def set_fetched_through(engine: sa.Engine, prop_id: int, day: date) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(_PROPERTIES).where(_PROPERTIES.c.id == prop_id).values(fetched_through=day))


#: The points upsert in each dialect's own placeholder style, run with the driver's
#: ``executemany`` (building SQLAlchemy parameters per row would cost more than the insert).
#: an analyst's EXCLUDED mark (16) survives re-fetching the day; the source's own flags are replaced
_KEEP_EXCLUDED = f"flags = (metric_point.flags & {int(PointFlag.EXCLUDED)}) | excluded.flags"
_UPSERT_POINTS = {
    "sqlite": (
        "INSERT INTO metric_point (property_id, metric, series, day, value, flags) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (property_id, metric, series, day) DO UPDATE SET value = excluded.value, " + _KEEP_EXCLUDED
    ),
    "postgresql": (
        "INSERT INTO metric_point (property_id, metric, series, day, value, flags) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (property_id, metric, series, day) DO UPDATE SET value = excluded.value, " + _KEEP_EXCLUDED
    ),
}


def lock_property(conn: Any, prop_id: int) -> None:
    """Raise :class:`UnknownPropertyError` unless ``prop_id`` is stored; on PostgreSQL the
    row is also locked against deletion until ``conn``'s transaction ends (``metric_point``
    has no foreign key: PostgreSQL would check it once per point, migration 0010).
    ``conn`` is a DB-API connection (sqlite3 or psycopg) inside a transaction."""
    sql = "SELECT 1 FROM property WHERE id = ?"
    if not isinstance(conn, sqlite3.Connection):
        sql = "SELECT 1 FROM property WHERE id = %s FOR KEY SHARE"
    if conn.execute(sql, (int(prop_id),)).fetchone() is None:
        raise UnknownPropertyError(f"no property with id {int(prop_id)} is stored; nothing was written")


def upsert_points(engine: sa.Engine, prop_id: int, observations: Iterable[Observation]) -> int:
    """Store observations in batches; an existing (property, metric, series, day) is replaced,
    except that a point an analyst marked EXCLUDED stays excluded (re-fetching a day keeps it).

    Streams: at most :data:`BATCH_ROWS` observations are held at a time, each batch is
    committed on its own.
    """
    dialect = engine.dialect.name
    if dialect not in _UPSERT_POINTS:
        raise NotImplementedError(f"database dialect {dialect!r} is not supported (use SQLite or PostgreSQL)")
    sql = _UPSERT_POINTS[dialect]
    iso_days = dialect == "sqlite"  # SQLAlchemy stores SQLite dates as ISO text; do the same
    written = 0
    iterator = iter(observations)
    while batch := list(islice(iterator, BATCH_ROWS)):
        rows = [
            (prop_id, o.metric, o.series, o.day.isoformat() if iso_days else o.day, o.value, int(o.flags))
            for o in batch
        ]
        with engine.begin() as conn:
            if not written:
                lock_property(conn.connection.driver_connection, prop_id)
            conn.exec_driver_sql(sql, rows)
        written += len(rows)
    return written


#: each stored metric's newest day, from the end of its key range
_LATEST_DAY = f"""
{points.STORED_METRICS}
SELECT max((SELECT max(day) FROM metric_point WHERE property_id = :prop AND metric = stored.metric))
FROM stored WHERE stored.metric IS NOT NULL
"""


def latest_day(engine: sa.Engine, prop_id: int) -> date | None:
    """The newest day with any stored point for the property: a few key look-ups per
    metric (the key is (property, metric, day, series)), not a scan of every point."""
    with engine.connect() as conn:
        value = conn.execute(sa.text(_LATEST_DAY), {"prop": prop_id}).scalar()
    if isinstance(value, str):  # SQLite aggregates lose the column type
        return date.fromisoformat(value)
    return value if isinstance(value, date) else None


def iter_points(
    engine: sa.Engine, prop_id: int, *, prop_name: str, start: date | None = None, end: date | None = None
) -> Iterator[Observation]:
    """Stored points in (day, series, metric) order, streamed."""
    query = sa.select(_POINTS.c.metric, _POINTS.c.series, _POINTS.c.day, _POINTS.c.value, _POINTS.c.flags).where(
        _POINTS.c.property_id == prop_id
    )
    if start is not None:
        query = query.where(_POINTS.c.day >= start)
    if end is not None:
        query = query.where(_POINTS.c.day <= end)
    query = query.order_by(_POINTS.c.day, _POINTS.c.series, _POINTS.c.metric)
    with engine.connect() as conn:
        for metric, series, day, value, flags in conn.execution_options(yield_per=BATCH_ROWS).execute(query):
            yield Observation(prop_name, series, metric, day, float(value), PointFlag(flags))


def load_panels(
    engine: sa.Engine,
    prop_id: int,
    *,
    prop_name: str,
    start: date,
    end: date,
    last_final: date,
    metrics: Sequence[str] = (),
) -> tuple[MetricPanel, ...]:
    """One panel per stored metric over ``start..end``; flagged points become NaN.

    Aggregated in the database (see :mod:`jobs.storage.points`); row by row only for the
    rare property whose series names contain the aggregation's separator.
    """
    fast = points.load_panels(
        engine, prop_id, prop_name=prop_name, start=start, end=end, last_final=last_final, metrics=metrics
    )
    if fast is not None:
        return fast
    query = sa.select(_POINTS.c.metric, _POINTS.c.series, _POINTS.c.day, _POINTS.c.value, _POINTS.c.flags).where(
        _POINTS.c.property_id == prop_id, _POINTS.c.day >= start, _POINTS.c.day <= end
    )
    if metrics:
        query = query.where(_POINTS.c.metric.in_(list(metrics)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return ()
    metric_col, series_col, day_col, value_col, flag_col = zip(*rows, strict=True)
    metric_arr = np.asarray(metric_col, dtype=object)
    series_arr = np.asarray(series_col, dtype=object)
    day_idx = np.fromiter((d.toordinal() for d in day_col), dtype=np.int64, count=len(rows)) - start.toordinal()
    values = np.asarray(value_col, dtype=np.float64)
    values[np.asarray(flag_col, dtype=np.int64) != 0] = np.nan
    n_days = end.toordinal() - start.toordinal() + 1
    dates = tuple(date.fromordinal(start.toordinal() + i) for i in range(n_days))
    panels = []
    for metric in sorted(set(metric_col)):
        mask = metric_arr == metric
        found, rows_idx = np.unique(series_arr[mask], return_inverse=True)
        names = series_order(str(n) for n in found)
        position = {name: i for i, name in enumerate(names)}
        order = np.array([position[str(n)] for n in found], dtype=np.int64)
        grid = np.full((len(names), n_days), np.nan)
        grid[order[rows_idx], day_idx[mask]] = values[mask]
        panels.append(
            MetricPanel(
                property=prop_name,
                metric=metric,
                series=tuple(str(n) for n in names),
                dates=dates,
                values=grid,
                last_final=last_final,
            )
        )
    return tuple(panels)


def save_findings(
    engine: sa.Engine, prop_id: int, findings: Sequence[Finding], *, suffix: str = ""
) -> tuple[Finding, ...]:
    """Upsert findings on (property, day, dedupe key + ``suffix``); return them with their ids.

    The hourly watch stores its findings with :data:`HOURLY_SUFFIX`, beside the daily ones.
    """
    if not findings:
        return ()
    base = _insert(engine, _FINDINGS)
    update_cols = ("severity", "observed", "expected", "lower", "upper", "p_value", "q_value", "detail")
    stmt = base.on_conflict_do_update(
        index_elements=["property_id", "day", "dedupe_key"],
        set_={c: getattr(base.excluded, c) for c in update_cols},
    )
    rows = [_finding_row(prop_id, f, suffix) for f in findings]
    with engine.begin() as conn:
        conn.execute(stmt, rows)
        ids: dict[tuple[date, str], int] = {
            (day, str(key)): int(i)
            for day, key, i in conn.execute(
                sa.select(_FINDINGS.c.day, _FINDINGS.c.dedupe_key, _FINDINGS.c.id).where(
                    _FINDINGS.c.property_id == prop_id,
                    _FINDINGS.c.day.in_({f.anomaly.day for f in findings}),
                )
            ).all()
        }
    return tuple(_with_id(f, ids[(f.anomaly.day, f.dedupe_key + suffix)]) for f in findings)


def _with_id(finding: Finding, finding_id: int) -> Finding:
    return replace(finding, id=finding_id)


def _finding_row(prop_id: int, f: Finding, suffix: str = "") -> dict[str, object]:
    a = f.anomaly
    return {
        "property_id": prop_id,
        "day": a.day,
        "series": a.series,
        "metric": a.metric,
        "kind": a.kind.value,
        "direction": a.direction.value,
        "severity": f.severity.value,
        "observed": a.observed,
        "expected": a.expected,
        "lower": a.lower,
        "upper": a.upper,
        "p_value": a.p_value,
        "q_value": a.q_value,
        "dedupe_key": f.dedupe_key + suffix,
        "detail": encode_detail(f.contributors, f.chart, f.decomposition),
        "created_at": _now(),
    }


def _finding_query() -> sa.Select[tuple[object, ...]]:
    return sa.select(_FINDINGS, _PROPERTIES.c.name.label("property_name")).join(
        _PROPERTIES, _PROPERTIES.c.id == _FINDINGS.c.property_id
    )


def _finding_from(row: sa.Row[tuple[object, ...]]) -> Finding:
    m = row._mapping
    contributors, chart = decode_detail(str(m["detail"]))
    anomaly = Anomaly(
        property=str(m["property_name"]),
        series=str(m["series"]),
        metric=str(m["metric"]),
        day=m["day"],
        observed=float(m["observed"]),
        expected=float(m["expected"]),
        lower=float(m["lower"]),
        upper=float(m["upper"]),
        p_value=float(m["p_value"]),
        q_value=None if m["q_value"] is None else float(m["q_value"]),
        direction=Direction(m["direction"]),
        kind=Kind(m["kind"]),
    )
    decomposition = decode_decomposition(str(m["detail"]))
    return Finding(anomaly, Severity(m["severity"]), contributors, chart, int(m["id"]), decomposition)


#: Dedupe-key suffix of the hourly watch's findings (stored beside the daily ones, never in them).
HOURLY_SUFFIX = "|hourly"


def findings_for(engine: sa.Engine, prop_id: int, day: date) -> tuple[Finding, ...]:
    """The daily findings of one property and day (the hourly watch's are kept apart)."""
    with engine.connect() as conn:
        rows = conn.execute(
            _finding_query()
            .where(
                _FINDINGS.c.property_id == prop_id,
                _FINDINGS.c.day == day,
                _FINDINGS.c.dedupe_key.notlike("%" + HOURLY_SUFFIX),
            )
            .order_by(_FINDINGS.c.id)
        ).all()
    return tuple(_finding_from(r) for r in rows)


def finding_by_id(engine: sa.Engine, finding_id: int) -> Finding | None:
    """The stored finding ``finding_id`` (with its chart data), or None."""
    found = _findings_by_id(engine, [finding_id])
    return found[0] if found else None


def findings_between(
    engine: sa.Engine, prop_id: int, *, start: date, end: date, kinds: Sequence[Kind]
) -> tuple[Finding, ...]:
    """The daily findings of ``kinds`` of one property dated ``start..end``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            _finding_query()
            .where(
                _FINDINGS.c.property_id == prop_id,
                _FINDINGS.c.day >= start,
                _FINDINGS.c.day <= end,
                _FINDINGS.c.kind.in_([k.value for k in kinds]),
                _FINDINGS.c.dedupe_key.notlike("%" + HOURLY_SUFFIX),
            )
            .order_by(_FINDINGS.c.day, _FINDINGS.c.id)
        ).all()
    return tuple(_finding_from(r) for r in rows)


def findings_by_id(engine: sa.Engine, ids: Sequence[int]) -> tuple[Finding, ...]:
    """The stored findings ``ids``, in that order (unknown ids are left out)."""
    return _findings_by_id(engine, ids)


def _findings_by_id(engine: sa.Engine, ids: Sequence[int]) -> tuple[Finding, ...]:
    if not ids:
        return ()
    with engine.connect() as conn:
        rows = conn.execute(_finding_query().where(_FINDINGS.c.id.in_(list(ids)))).all()
    by_id = {int(r._mapping["id"]): _finding_from(r) for r in rows}
    return tuple(by_id[i] for i in ids if i in by_id)


def save_digest(engine: sa.Engine, digest: Digest) -> Digest:
    """Store ``digest`` unless one with its identity exists; return the stored one.

    The identity is (subscription, scheduled_day) for a scheduled digest, (subscription,
    data_date) for any other. The first digest built wins, so a retry delivers exactly
    what was planned.
    """
    scheduled = digest.scheduled_day is not None
    unscheduled = _DIGESTS.c.scheduled_day.is_(None)
    stmt = (
        _insert(engine, _DIGESTS)
        .values(
            subscription=digest.subscription,
            data_date=digest.data_date,
            headline=digest.headline,
            summary=digest.summary,
            summariser=digest.summariser,
            properties=json.dumps(list(digest.properties)),
            finding_ids=json.dumps([f.id for f in digest.findings]),
            notices=json.dumps(list(digest.notices)),
            created_at=digest.generated_at,
            scheduled_day=digest.scheduled_day,
            missing=json.dumps(list(digest.missing)),
        )
        .on_conflict_do_nothing(
            index_elements=["subscription", "scheduled_day" if scheduled else "data_date"],
            index_where=None if scheduled else unscheduled,
        )
        .returning(_DIGESTS.c.id)
    )
    with engine.begin() as conn:
        digest_id = conn.execute(stmt).scalar()
        layout = (
            digest.incidents
            or digest.held_back
            or digest.immediate
            or digest.sources
            or digest.recovered
            or digest.ongoing
        )
        if digest_id is not None and (layout or digest.period_days != 1):
            write_layout(conn, int(digest_id), digest)  # with the digest row, or not at all
    if digest.scheduled_day is not None:
        stored = find_scheduled(engine, digest.subscription, digest.scheduled_day)
    else:
        stored = _find(
            engine,
            _DIGESTS.c.subscription == digest.subscription,
            _DIGESTS.c.data_date == digest.data_date,
            unscheduled,
        )
    assert stored is not None  # just written or already there
    return stored


def find_digest(engine: sa.Engine, subscription: str, data_date: date) -> Digest | None:
    """The first digest of ``subscription`` about ``data_date`` (scheduled or not), or None."""
    return _find(engine, _DIGESTS.c.subscription == subscription, _DIGESTS.c.data_date == data_date)


def find_scheduled(engine: sa.Engine, subscription: str, day: date) -> Digest | None:
    """The scheduled digest of ``subscription`` for ``day``, or None."""
    return _find(engine, _DIGESTS.c.subscription == subscription, _DIGESTS.c.scheduled_day == day)


def _find(engine: sa.Engine, *where: sa.ColumnElement[bool]) -> Digest | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_DIGESTS).where(*where).order_by(_DIGESTS.c.id).limit(1)).first()
    return None if row is None else _digest_from(engine, row)


def load_digest(engine: sa.Engine, digest_id: int) -> Digest | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_DIGESTS).where(_DIGESTS.c.id == digest_id)).first()
    return None if row is None else _digest_from(engine, row)


def _digest_from(engine: sa.Engine, row: sa.Row[tuple[object, ...]]) -> Digest:
    m = row._mapping
    shown = [int(i) for i in json.loads(str(m["finding_ids"]))]
    with engine.connect() as conn:
        layout = read_layout(conn, int(m["id"]))
    wanted = list(dict.fromkeys(shown + ([] if layout is None else layout.finding_ids())))
    by_id = {f.id: f for f in _findings_by_id(engine, wanted)}
    findings = tuple(by_id[i] for i in shown if i in by_id)
    created = m["created_at"]
    if isinstance(created, datetime) and created.tzinfo is None:  # SQLite drops the zone
        created = created.replace(tzinfo=UTC)
    digest = Digest(
        subscription=str(m["subscription"]),
        data_date=m["data_date"],
        properties=tuple(json.loads(str(m["properties"]))),
        findings=findings,
        headline=str(m["headline"]),
        summary=str(m["summary"]),
        generated_at=created,
        summariser=str(m["summariser"]),
        notices=tuple(json.loads(str(m["notices"]))),
        id=int(m["id"]),
        scheduled_day=m["scheduled_day"],
        missing=tuple(json.loads(str(m["missing"] or "[]"))),
    )
    if layout is None:
        return digest
    return layout.resolve(digest, {i: f for i, f in by_id.items() if i is not None})
