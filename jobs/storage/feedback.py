"""Analysts' verdicts on findings, and what they change.

A label is stored as a :class:`jobs.storage.tables.FeedbackRow` (the latest one counts).
``expected`` marks the finding's points EXCLUDED, so :func:`jobs.storage.repo.load_panels`
reads them as gaps and they stay out of every later baseline (re-fetching the day keeps
the mark); a later other label lifts the mark again. The points of a finding are its
series x day in its metric (``ctr``: the clicks it is computed from) and, when its
decomposition names a product metric that moved with it (clicks with impressions,
keyEvents with sessions), in that metric too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from jobs.detection.learning import Verdict
from jobs.domain import Finding, Label, PointFlag
from jobs.errors import BarometerError
from jobs.storage.codec import decode_decomposition
from jobs.storage.tables import FeedbackRow, FindingRow, MetricPointRow, PropertyRow

__all__ = ["FeedbackResult", "LabelledFinding", "labels_between", "matches", "record_feedback", "verdicts"]

_POINTS = MetricPointRow.__table__  # type: ignore[attr-defined]
_FINDINGS = FindingRow.__table__  # type: ignore[attr-defined]
_FEEDBACK = FeedbackRow.__table__  # type: ignore[attr-defined]
_PROPERTIES = PropertyRow.__table__  # type: ignore[attr-defined]
#: Metrics that are derived, not stored: the stored metric their value comes from.
_STORED_AS = {"ctr": "clicks"}


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    finding_id: int
    property: str
    series: str
    metric: str
    day: date
    label: Label
    #: stored points whose EXCLUDED mark changed (set for ``expected``, lifted otherwise)
    points: int


@dataclass(frozen=True, slots=True)
class LabelledFinding:
    """A stored finding's identity and its latest label (for backtests)."""

    day: date
    series: str
    metric: str
    kind: str
    direction: str
    label: Label


def _metrics(metric: str, detail: str) -> tuple[str, ...]:
    decomposition = decode_decomposition(detail)
    metrics = [_STORED_AS.get(metric, metric)]
    if decomposition is not None and decomposition.metric not in metrics:
        metrics.append(decomposition.metric)
    return tuple(metrics)


def record_feedback(engine: sa.Engine, finding_id: int, label: Label, *, note: str, now: datetime) -> FeedbackResult:
    """Store ``label`` for finding ``finding_id`` and apply it; raise if there is no such finding."""
    query = sa.select(_FINDINGS, _PROPERTIES.c.name.label("property_name")).join(
        _PROPERTIES, _PROPERTIES.c.id == _FINDINGS.c.property_id
    )
    with engine.begin() as conn:
        row = conn.execute(query.where(_FINDINGS.c.id == finding_id)).first()
        if row is None:
            raise BarometerError(f"finding {finding_id} does not exist (ids are in the digest and the findings table)")
        m = row._mapping
        conn.execute(sa.insert(_FEEDBACK).values(finding_id=finding_id, label=label.value, note=note, created_at=now))
        where = sa.and_(
            _POINTS.c.property_id == m["property_id"],
            _POINTS.c.series == m["series"],
            _POINTS.c.day == m["day"],
            _POINTS.c.metric.in_(_metrics(str(m["metric"]), str(m["detail"]))),
        )
        excluded = int(PointFlag.EXCLUDED)
        if label is Label.EXPECTED:
            flags = _POINTS.c.flags.op("|")(excluded)
        else:
            flags = _POINTS.c.flags.op("&")(~excluded & 0x7FFFFFFF)
        changed = conn.execute(sa.update(_POINTS).where(where).values(flags=flags)).rowcount
    return FeedbackResult(
        finding_id, str(m["property_name"]), str(m["series"]), str(m["metric"]), m["day"], label, int(changed or 0)
    )


def labels_between(engine: sa.Engine, prop_id: int, *, start: date, end: date) -> tuple[LabelledFinding, ...]:
    """The latest label of every labelled finding of the property dated ``start..end``."""
    latest = (
        sa.select(_FEEDBACK.c.finding_id, sa.func.max(_FEEDBACK.c.id).label("last"))
        .group_by(_FEEDBACK.c.finding_id)
        .subquery()
    )
    query = (
        sa.select(
            _FINDINGS.c.day,
            _FINDINGS.c.series,
            _FINDINGS.c.metric,
            _FINDINGS.c.kind,
            _FINDINGS.c.direction,
            _FEEDBACK.c.label,
        )
        .join(latest, latest.c.finding_id == _FINDINGS.c.id)
        .join(_FEEDBACK, _FEEDBACK.c.id == latest.c.last)
        .where(_FINDINGS.c.property_id == prop_id, _FINDINGS.c.day >= start, _FINDINGS.c.day <= end)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return tuple(LabelledFinding(r[0], r[1], r[2], r[3], r[4], Label(r[5])) for r in rows)


def matches(finding: Finding, labelled: Sequence[LabelledFinding]) -> LabelledFinding | None:
    """The labelled finding a replayed ``finding`` corresponds to (same day, series, metric, direction)."""
    a = finding.anomaly
    for lab in labelled:
        if (lab.day, lab.series, lab.metric, lab.direction) == (a.day, a.series, a.metric, a.direction.value):
            return lab
    return None


def verdicts(engine: sa.Engine, prop_id: int, *, since: date) -> tuple[Verdict, ...]:
    """The latest label of every labelled finding of the property dated ``since`` or later,
    with the finding's p-value (what :func:`jobs.detection.learning.learn` learns from)."""
    latest = (
        sa.select(_FEEDBACK.c.finding_id, sa.func.max(_FEEDBACK.c.id).label("last"))
        .group_by(_FEEDBACK.c.finding_id)
        .subquery()
    )
    query = (
        sa.select(_FINDINGS.c.day, _FINDINGS.c.series, _FINDINGS.c.metric, _FEEDBACK.c.label, _FINDINGS.c.p_value)
        .join(latest, latest.c.finding_id == _FINDINGS.c.id)
        .join(_FEEDBACK, _FEEDBACK.c.id == latest.c.last)
        .where(_FINDINGS.c.property_id == prop_id, _FINDINGS.c.day >= since)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return tuple(Verdict(r[0], r[1], r[2], Label(r[3]), float(r[4])) for r in rows)
