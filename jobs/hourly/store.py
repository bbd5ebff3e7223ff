"""Storing the hourly watch's points, findings and incidents (plain functions over an engine).

Points: a day's 24 values per row (:class:`jobs.hourly.tables.HourlyPointRow`), replaced
whole when a day is fetched again (every fetch covers whole days). Findings go to the
``finding`` table with the dedupe-key suffix :data:`jobs.storage.repo.HOURLY_SUFFIX`, so
daily digests never pick them up as daily findings, while the alert log, digests and the
outbox handle them like any other. Each alerted finding gets an ``hourly_incident`` row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from jobs.detection.panels import series_order
from jobs.domain import Finding
from jobs.hourly.domain import HourlyFinding, HourlyPanel, HourPoint
from jobs.hourly.tables import HourlyIncidentRow, HourlyPointRow
from jobs.storage import repo
from jobs.storage.tables import PropertyRow

__all__ = [
    "AlertedIncident",
    "OpenIncident",
    "alerted_between",
    "load_hourly",
    "newest_hourly_day",
    "open_incidents",
    "problem_of",
    "record_incidents",
    "save_hourly_findings",
    "set_alerted",
    "set_recovered",
    "upsert_hours",
]

_POINTS = cast(sa.Table, HourlyPointRow.__table__)  # type: ignore[attr-defined]
_INCIDENTS = cast(sa.Table, HourlyIncidentRow.__table__)  # type: ignore[attr-defined]
_PROPERTIES = cast(sa.Table, PropertyRow.__table__)  # type: ignore[attr-defined]
_DTYPE = np.dtype("<f8")


def _insert(engine: sa.Engine, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    return postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table)


def upsert_hours(engine: sa.Engine, prop_id: int, points: Iterable[HourPoint], *, incomplete: set[date]) -> int:
    """Store ``points`` day by day (each (metric, series, day) row replaced whole); return
    the hourly values written. Days in ``incomplete`` are marked as still being counted."""
    days: dict[tuple[str, str, date], np.ndarray] = defaultdict(lambda: np.full(24, np.nan))
    count = 0
    for p in points:
        days[(p.metric, p.series, p.hour.date())][p.hour.hour] = p.value
        count += 1
    if not days:
        return 0
    rows = [
        {
            "property_id": prop_id,
            "metric": metric,
            "series": series,
            "day": day,
            "hours": values.astype(_DTYPE).tobytes(),
            "incomplete": day in incomplete,
        }
        for (metric, series, day), values in days.items()
    ]
    base = _insert(engine, _POINTS)
    stmt = base.on_conflict_do_update(
        index_elements=["property_id", "metric", "series", "day"],
        set_={"hours": base.excluded.hours, "incomplete": base.excluded.incomplete},
    )
    with engine.begin() as conn:
        for at in range(0, len(rows), repo.BATCH_ROWS):
            conn.execute(stmt, rows[at : at + repo.BATCH_ROWS])
    return count


def newest_hourly_day(engine: sa.Engine, prop_id: int) -> date | None:
    """The newest day stored for the property, complete or not."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(_POINTS.c.day)).where(_POINTS.c.property_id == prop_id)).scalar()
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value if isinstance(value, date) else None


def load_hourly(
    engine: sa.Engine, prop_id: int, *, prop_name: str, start: date, end: date, metrics: Sequence[str] = ()
) -> tuple[HourlyPanel, ...]:
    """One panel per stored metric over the local days ``start..end`` (24 hours each)."""
    where = [_POINTS.c.property_id == prop_id, _POINTS.c.day >= start, _POINTS.c.day <= end]
    query = sa.select(_POINTS.c.metric).distinct().where(*where)
    if metrics:
        query = query.where(_POINTS.c.metric.in_(list(metrics)))
    with engine.connect() as conn:
        stored = sorted(str(m) for m in conn.execute(query).scalars())
        return tuple(_panel(conn, prop_name, metric, where, start=start, end=end) for metric in stored)


def _panel(
    conn: sa.Connection, prop_name: str, metric: str, where: list[sa.ColumnElement[bool]], *, start: date, end: date
) -> HourlyPanel:
    """One metric's rows, read through the driver's own cursor: eight weeks of 5,000 series
    are 280,000 rows, and SQLAlchemy's result rows and type processing would double the read."""
    query = sa.select(_POINTS.c.series, _POINTS.c.day, _POINTS.c.hours).where(*where, _POINTS.c.metric == metric)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    days = (end - start).days + 1
    origin = datetime(start.year, start.month, start.day)
    if not rows:
        return HourlyPanel(prop_name, metric, (), origin, np.empty((0, days * 24)))
    series, stored_days, packed = (list(map(itemgetter(i), rows)) for i in range(3))
    names = series_order(set(series))
    position = {name: i for i, name in enumerate(names)}
    day_at: dict[object, int] = {}
    for i, day in enumerate(days_between(start, end)):
        day_at[day] = day_at[day.isoformat()] = i  # SQLite hands back text, PostgreSQL dates
    rows_at = np.fromiter(map(position.__getitem__, series), dtype=np.int64, count=len(rows))
    days_at = np.fromiter(map(day_at.__getitem__, stored_days), dtype=np.int64, count=len(rows))
    values = np.frombuffer(b"".join(packed), dtype=_DTYPE).reshape(len(rows), 24)
    grid = np.full((len(names), days, 24), np.nan)
    grid[rows_at, days_at] = values
    return HourlyPanel(prop_name, metric, names, origin, grid.reshape(len(names), days * 24))


def save_hourly_findings(engine: sa.Engine, prop_id: int, found: Sequence[HourlyFinding]) -> tuple[HourlyFinding, ...]:
    """Store the findings (upsert, as hourly findings); return them with their ids."""
    stored = repo.save_findings(engine, prop_id, [h.finding for h in found], suffix=repo.HOURLY_SUFFIX)
    return tuple(
        HourlyFinding(finding, start=h.start, end=h.end, realtime=h.realtime)
        for h, finding in zip(found, stored, strict=True)
    )


def problem_of(finding: Finding) -> str:
    """``property|series|metric|direction``: the key the alert log uses for one problem."""
    a = finding.anomaly
    return f"{a.property}|{a.series}|{a.metric}|{a.direction.value}"


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An hourly incident not yet recovered."""

    id: int
    finding_id: int
    problem_key: str
    kind: str
    start_local: datetime
    end_local: datetime
    alerted_at: datetime | None

    @property
    def series(self) -> str:
        return self.problem_key.split("|")[1]

    @property
    def metric(self) -> str:
        return self.problem_key.split("|")[2]

    @property
    def down(self) -> bool:
        return self.problem_key.endswith("|down")


def open_incidents(engine: sa.Engine, prop_id: int) -> tuple[OpenIncident, ...]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                _INCIDENTS.c.id,
                _INCIDENTS.c.finding_id,
                _INCIDENTS.c.problem_key,
                _INCIDENTS.c.kind,
                _INCIDENTS.c.start_local,
                _INCIDENTS.c.end_local,
                _INCIDENTS.c.alerted_at,
            )
            .where(_INCIDENTS.c.property_id == prop_id, _INCIDENTS.c.recovered_local.is_(None))
            .order_by(_INCIDENTS.c.id)
        ).all()
    return tuple(OpenIncident(int(r[0]), int(r[1]), str(r[2]), str(r[3]), r[4], r[5], r[6]) for r in rows)


def record_incidents(engine: sa.Engine, prop_id: int, found: Sequence[HourlyFinding], *, at: datetime) -> int:
    """An incident row per stored finding whose problem has no open incident; return how
    many were opened (an ongoing problem keeps its first incident)."""
    open_keys = {i.problem_key for i in open_incidents(engine, prop_id)}
    rows = []
    for h in found:
        key = problem_of(h.finding)
        if h.finding.id is None or key in open_keys:
            continue
        open_keys.add(key)
        rows.append(
            {
                "property_id": prop_id,
                "finding_id": h.finding.id,
                "problem_key": key,
                "kind": h.finding.anomaly.kind.value,
                "start_local": h.start,
                "end_local": h.end,
                "realtime": h.realtime,
                "found_at": at,
            }
        )
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(_INCIDENTS), rows)
    return len(rows)


def set_alerted(engine: sa.Engine, finding_ids: Sequence[int], *, at: datetime) -> None:
    """Note when the alert carrying these findings first reached someone."""
    if not finding_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.update(_INCIDENTS)
            .where(_INCIDENTS.c.finding_id.in_(list(finding_ids)), _INCIDENTS.c.alerted_at.is_(None))
            .values(alerted_at=at)
        )


def set_recovered(engine: sa.Engine, incident_id: int, *, local: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(_INCIDENTS).where(_INCIDENTS.c.id == incident_id).values(recovered_local=local))


@dataclass(frozen=True, slots=True)
class AlertedIncident:
    """An hourly incident that was alerted, for the next digest's "alerted at" line."""

    property: str
    problem_key: str
    kind: str
    start_local: datetime
    alerted_at: datetime
    recovered_local: datetime | None
    timezone: str


def alerted_between(
    engine: sa.Engine, properties: Sequence[str], *, since: datetime, until: datetime
) -> tuple[AlertedIncident, ...]:
    """Incidents of ``properties`` whose alert went out in ``[since, until)``, oldest first."""
    query = (
        sa.select(
            _PROPERTIES.c.name,
            _PROPERTIES.c.timezone,
            _INCIDENTS.c.problem_key,
            _INCIDENTS.c.kind,
            _INCIDENTS.c.start_local,
            _INCIDENTS.c.alerted_at,
            _INCIDENTS.c.recovered_local,
        )
        .join(_PROPERTIES, _PROPERTIES.c.id == _INCIDENTS.c.property_id)
        .where(
            _PROPERTIES.c.name.in_(list(properties)),
            _INCIDENTS.c.alerted_at.is_not(None),
            _INCIDENTS.c.alerted_at >= since,
            _INCIDENTS.c.alerted_at < until,
        )
        .order_by(_INCIDENTS.c.alerted_at, _INCIDENTS.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return tuple(
        AlertedIncident(str(name), str(key), str(kind), start, _aware(alerted), recovered, str(tz))
        for name, tz, key, kind, start, alerted, recovered in rows
    )


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
