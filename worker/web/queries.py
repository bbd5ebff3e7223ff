"""What the console reads: findings with their labels, the overview, per page and fast.

A finding is *open* while it is recent (dated within :data:`OPEN_DAYS` of its
property's newest stored day) and no analyst has closed it (labelled ``expected`` or
``false_alarm``); otherwise it is *closed*. Lists are paged by keyset-free
``LIMIT/OFFSET`` on ``(day DESC, id DESC)``, which the ``finding.day`` index serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

import sqlalchemy as sa

from jobs.domain import Finding
from jobs.storage import repo
from jobs.storage.tables import DeliveryRow, DigestRow, FeedbackRow, FindingRow, JobRunRow, PropertyRow

__all__ = [
    "OPEN_DAYS",
    "FindingFilter",
    "FindingLine",
    "PropertyHealth",
    "finding_by_id",
    "findings_page",
    "flagged_days",
    "label_history",
    "overview",
]

OPEN_DAYS = 7
PAGE_SIZE = 50
CLOSING_LABELS = ("expected", "false_alarm")
_F = cast(sa.Table, FindingRow.__table__)  # type: ignore[attr-defined]
_P = cast(sa.Table, PropertyRow.__table__)  # type: ignore[attr-defined]
_FB = cast(sa.Table, FeedbackRow.__table__)  # type: ignore[attr-defined]
_R = cast(sa.Table, JobRunRow.__table__)  # type: ignore[attr-defined]
_DL = cast(sa.Table, DeliveryRow.__table__)  # type: ignore[attr-defined]
_DG = cast(sa.Table, DigestRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FindingFilter:
    property: str = ""
    metric: str = ""
    kind: str = ""
    severity: str = ""
    start: date | None = None
    end: date | None = None
    label: str = ""  # "" any | none | expected | false_alarm | confirmed
    state: str = ""  # "" any | open | closed
    page: int = 1
    per_page: int = PAGE_SIZE

    def query_string(self, **changes: object) -> str:
        from urllib.parse import urlencode

        values = {
            "property": self.property,
            "metric": self.metric,
            "kind": self.kind,
            "severity": self.severity,
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "label": self.label,
            "state": self.state,
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        defaults = {"page": 1, "per_page": PAGE_SIZE}
        return urlencode({k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v})


@dataclass(frozen=True, slots=True)
class FindingLine:
    id: int
    property_name: str
    day: date
    series: str
    metric: str
    kind: str
    direction: str
    severity: str
    observed: float
    expected: float
    label: str
    open: bool

    @property
    def change(self) -> float | None:
        return None if self.expected == 0 else self.observed / self.expected - 1


def _latest_label() -> sa.Subquery:
    last = sa.select(_FB.c.finding_id, sa.func.max(_FB.c.id).label("last")).group_by(_FB.c.finding_id).subquery()
    return sa.select(last.c.finding_id, _FB.c.label).join(_FB, _FB.c.id == last.c.last).subquery("latest_label")


def _newest_day() -> sa.ColumnElement[date]:
    """The property's newest stored day (its own newest finding's day for imported data)."""
    other = _F.alias("newest")
    own = sa.select(sa.func.max(other.c.day)).where(other.c.property_id == _P.c.id).scalar_subquery()
    return sa.func.coalesce(_P.c.fetched_through, own)


def findings_page(
    engine: sa.Engine, flt: FindingFilter, *, page_size: int | None = None
) -> tuple[list[FindingLine], bool]:
    """One page of findings matching ``flt`` (``page_size`` or its own), newest first, and whether more follow."""
    page_size = page_size or flt.per_page
    label = _latest_label()
    newest = _newest_day()
    cutoff = sa.func.date(newest, f"-{OPEN_DAYS} days") if engine.dialect.name == "sqlite" else newest - OPEN_DAYS
    is_open = sa.and_(_F.c.day > cutoff, sa.or_(label.c.label.is_(None), label.c.label.notin_(CLOSING_LABELS)))
    query = (
        sa.select(
            _F.c.id,
            _P.c.name,
            _F.c.day,
            _F.c.series,
            _F.c.metric,
            _F.c.kind,
            _F.c.direction,
            _F.c.severity,
            _F.c.observed,
            _F.c.expected,
            label.c.label,
            sa.case((is_open, True), else_=False).label("open"),
        )
        .select_from(_F.join(_P, _P.c.id == _F.c.property_id).outerjoin(label, label.c.finding_id == _F.c.id))
        .order_by(_F.c.day.desc(), _F.c.id.desc())
        .limit(page_size + 1)
        .offset((max(flt.page, 1) - 1) * page_size)
    )
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.property:
        conditions.append(_P.c.name == flt.property)
    for column, value in ((_F.c.metric, flt.metric), (_F.c.kind, flt.kind), (_F.c.severity, flt.severity)):
        if value:
            conditions.append(column == value)
    if flt.start:
        conditions.append(_F.c.day >= flt.start)
    if flt.end:
        conditions.append(_F.c.day <= flt.end)
    if flt.label == "none":
        conditions.append(label.c.label.is_(None))
    elif flt.label:
        conditions.append(label.c.label == flt.label)
    if flt.state == "open":
        conditions.append(is_open)
    elif flt.state == "closed":
        conditions.append(sa.not_(is_open))
    with engine.connect() as conn:
        rows = conn.execute(query.where(*conditions)).all()
    lines = [
        FindingLine(
            int(r[0]),
            str(r[1]),
            r[2],
            str(r[3]),
            str(r[4]),
            str(r[5]),
            str(r[6]),
            str(r[7]),
            float(r[8]),
            float(r[9]),
            str(r[10] or ""),
            bool(r[11]),
        )
        for r in rows[:page_size]
    ]
    return lines, len(rows) > page_size


def choices(engine: sa.Engine) -> dict[str, list[str]]:
    """The values the filters offer: properties and metrics that have findings."""
    with engine.connect() as conn:
        props = [str(r[0]) for r in conn.execute(sa.select(_P.c.name).order_by(_P.c.name))]
        metrics = [str(r[0]) for r in conn.execute(sa.select(_F.c.metric).distinct().order_by(_F.c.metric))]
    return {"properties": props, "metrics": metrics}


def finding_by_id(engine: sa.Engine, finding_id: int) -> Finding | None:
    found = repo.findings_by_id(engine, [finding_id])
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class LabelEntry:
    label: str
    note: str
    created_at: datetime


def label_history(engine: sa.Engine, finding_id: int) -> list[LabelEntry]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_FB.c.label, _FB.c.note, _FB.c.created_at)
            .where(_FB.c.finding_id == finding_id)
            .order_by(_FB.c.id)
        ).all()
    return [LabelEntry(str(r[0]), str(r[1]), r[2]) for r in rows]


def flagged_days(engine: sa.Engine, finding: Finding, *, start: date, end: date) -> dict[date, int]:
    """Days in ``start..end`` on which the finding's series x metric was flagged: day -> finding id."""
    a = finding.anomaly
    query = (
        sa.select(_F.c.day, _F.c.id)
        .join(_P, _P.c.id == _F.c.property_id)
        .where(_P.c.name == a.property, _F.c.series == a.series, _F.c.metric == a.metric)
        .where(_F.c.day >= start, _F.c.day <= end)
    )
    with engine.connect() as conn:
        return {r[0]: int(r[1]) for r in conn.execute(query)}


def deliveries_of_finding(engine: sa.Engine, finding_id: int) -> list[dict[str, object]]:
    """The deliveries of every digest or alert that carried the finding."""
    pattern = f"%{finding_id}%"
    with engine.connect() as conn:
        digests = conn.execute(
            sa.select(_DG.c.id, _DG.c.subscription, _DG.c.data_date, _DG.c.finding_ids).where(
                _DG.c.finding_ids.like(pattern)
            )
        ).all()
        carrying = {int(d[0]): d for d in digests if finding_id in json.loads(str(d[3]))}
        if not carrying:
            return []
        rows = (
            conn.execute(sa.select(_DL).where(_DL.c.digest_id.in_(list(carrying))).order_by(_DL.c.digest_id, _DL.c.id))
            .mappings()
            .all()
        )
    return [
        {
            "id": r["id"],
            "digest_id": r["digest_id"],
            "subscription": carrying[int(r["digest_id"])][1],
            "channel": r["channel"],
            "recipient": r["recipient"],
            "status": r["status"],
            "sent_at": r["sent_at"],
            "error": r["error"],
        }
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class PropertyHealth:
    name: str
    source: str
    newest_day: date | None
    lag_days: int | None
    last_run: datetime | None
    last_status: str
    last_detail: str
    open_findings: int
    top: list[FindingLine] = field(default_factory=list)


def overview(engine: sa.Engine, *, today: date) -> tuple[list[PropertyHealth], dict[str, int]]:
    """Each property's freshness, last run and open findings; delivery counts by status."""
    health: list[PropertyHealth] = []
    with engine.connect() as conn:
        props = conn.execute(sa.select(_P.c.name, _P.c.source, _P.c.fetched_through).order_by(_P.c.name)).all()
        status: dict[str, int] = dict(
            conn.execute(
                sa.select(_DL.c.status, sa.func.count()).where(_DL.c.status != "sent").group_by(_DL.c.status)
            ).all()
        )
        for name, source, fetched in props:
            run = conn.execute(
                sa.select(_R.c.finished_at, _R.c.started_at, _R.c.status, _R.c.detail)
                .where(_R.c.target == name, _R.c.job == "run_property")
                .order_by(_R.c.id.desc())
                .limit(1)
            ).first()
            newest = (
                fetched
                or conn.execute(
                    sa.select(sa.func.max(_F.c.day)).join(_P, _P.c.id == _F.c.property_id).where(_P.c.name == name)
                ).scalar()
            )
            lines, _ = findings_page(engine, FindingFilter(property=str(name), state="open"), page_size=5)
            count = _count_open(engine, str(name)) if len(lines) == 5 else len(lines)
            health.append(
                PropertyHealth(
                    name=str(name),
                    source=str(source),
                    newest_day=newest,
                    lag_days=None if newest is None else (today - newest).days,
                    last_run=None if run is None else (run[0] or run[1]),
                    last_status="" if run is None else str(run[2]),
                    last_detail="" if run is None else str(run[3])[:300],
                    open_findings=count,
                    top=lines,
                )
            )
    return health, {str(k): int(v) for k, v in status.items()}


def _count_open(engine: sa.Engine, prop: str) -> int:
    total = 0
    page = 1
    while True:  # open findings are few (recent and unresolved): counting them by page is cheap
        lines, more = findings_page(engine, FindingFilter(property=prop, state="open", page=page), page_size=500)
        total += len(lines)
        if not more:
            return total
        page += 1


def digests_of_finding(engine: sa.Engine, finding_id: int) -> list[tuple[int, str, date, str, str]]:
    """(id, subscription, data date, headline, summary) of every digest or alert that carried the finding."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_DG.c.id, _DG.c.subscription, _DG.c.data_date, _DG.c.finding_ids, _DG.c.headline, _DG.c.summary)
            .where(_DG.c.finding_ids.like(f"%{finding_id}%"))
            .order_by(_DG.c.id)
        ).all()
    return [(int(r[0]), str(r[1]), r[2], str(r[4]), str(r[5])) for r in rows if finding_id in json.loads(str(r[3]))]
