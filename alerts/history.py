"""What each subscription was told, day by day: the memory behind deduplication.

After a digest or an immediate alert is stored, :func:`record` writes one ``alert_log``
row per finding it carries: ``digest``/``alert`` for the findings it shows (including
those listed as suppressed under an incident), ``seen`` for those it holds back. Rows
are keyed by (subscription, problem, day, via) and inserted if absent, so recording the
same stored digest again changes nothing; a crash between storing a digest and
recording it is repaired by the next call.

A problem counts as *notified* by a row only if that digest or alert has at least one
delivery marked sent: a digest that never reached anyone did not tell anyone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from jobs.domain import DeliveryStatus, Digest, Finding
from jobs.storage.layout import base_subscription
from jobs.storage.tables import AlertLogRow, DeliveryRow, DigestLayoutRow, DigestRow

__all__ = [
    "Sighting",
    "failed_deliveries",
    "pending_alerts",
    "previous_digest_date",
    "problem_key",
    "record",
    "sightings",
]

_LOG = cast(sa.Table, AlertLogRow.__table__)  # type: ignore[attr-defined]
_DELIVERY = cast(sa.Table, DeliveryRow.__table__)  # type: ignore[attr-defined]
_DIGEST = cast(sa.Table, DigestRow.__table__)  # type: ignore[attr-defined]
_LAYOUT = cast(sa.Table, DigestLayoutRow.__table__)  # type: ignore[attr-defined]


def problem_key(finding: Finding) -> str:
    """``property|series|metric|direction``: one problem, whatever kind it shows as on a day
    (a tracking break is an outage on day 1 and a level shift on day 3)."""
    a = finding.anomaly
    return f"{a.property}|{a.series}|{a.metric}|{a.direction.value}"


@dataclass(frozen=True, slots=True)
class Sighting:
    """One ``alert_log`` row as the policy reads it."""

    problem_key: str
    day: date
    via: str  # digest | alert | seen
    severity: str
    ratio: float | None
    sent_at: datetime | None  # first successful delivery of its digest or alert; None: not notified

    @property
    def notified(self) -> bool:
        return self.via != "seen" and self.sent_at is not None


def _ratio(finding: Finding) -> float | None:
    a = finding.anomaly
    return None if a.expected == 0 else a.observed / a.expected


def record(engine: sa.Engine, digest: Digest, *, now: datetime) -> int:
    """Log what the stored ``digest`` shows and holds back; return the rows added."""
    if digest.id is None:
        raise ValueError("record: the digest must be stored (have an id) first")
    via = "alert" if digest.immediate else "digest"
    entries: list[tuple[Finding, str]] = [(f, via) for f in digest.findings]
    entries += [(f, via) for incident in digest.incidents for f in incident.suppressed]  # listed under it: told
    entries += [(h.finding, "seen") for h in digest.held_back]
    subscription = base_subscription(digest.subscription)
    values = [
        {
            "subscription": subscription,
            "problem_key": problem_key(f),
            "day": f.anomaly.day,
            "via": kind,
            "digest_id": digest.id,
            "finding_id": f.id,
            "severity": f.severity.value,
            "ratio": _ratio(f),
            "created_at": now.astimezone(UTC),
        }
        for f, kind in entries
        if f.id is not None
    ]
    if not values:
        return 0
    insert = postgresql.insert(_LOG) if engine.dialect.name == "postgresql" else sqlite.insert(_LOG)
    stmt = insert.on_conflict_do_nothing(index_elements=["subscription", "problem_key", "day", "via"])
    count = sa.select(sa.func.count()).select_from(_LOG).where(_LOG.c.digest_id == digest.id)
    with engine.begin() as conn:  # rowcount of an executemany is not reliable on every driver: count
        before = int(conn.execute(count).scalar_one())
        conn.execute(stmt, values)
        return int(conn.execute(count).scalar_one()) - before


def sightings(engine: sa.Engine, *, subscription: str, since: date, until: date) -> Mapping[str, tuple[Sighting, ...]]:
    """Every logged sighting of ``subscription`` dated ``since..until``, by problem, newest first."""
    sent_at = (
        sa.select(sa.func.min(_DELIVERY.c.sent_at))
        .where(_DELIVERY.c.digest_id == _LOG.c.digest_id, _DELIVERY.c.status == DeliveryStatus.SENT.value)
        .scalar_subquery()
    )
    query = (
        sa.select(_LOG.c.problem_key, _LOG.c.day, _LOG.c.via, _LOG.c.severity, _LOG.c.ratio, sent_at.label("sent_at"))
        .where(_LOG.c.subscription == subscription, _LOG.c.day >= since, _LOG.c.day <= until)
        .order_by(_LOG.c.day.desc(), _LOG.c.id)
    )
    out: dict[str, list[Sighting]] = defaultdict(list)
    with engine.connect() as conn:
        for key, day, via, severity, ratio, sent in conn.execute(query):
            when = None if sent is None else _utc(sent)
            out[str(key)].append(Sighting(str(key), day, str(via), str(severity), ratio, when))
    return {key: tuple(rows) for key, rows in out.items()}


def failed_deliveries(engine: sa.Engine, *, subscription: str, since: date, before: date) -> tuple[str, ...]:
    """One line per delivery of ``subscription`` that failed for good, or is still pending
    after it was reported overdue: its digests dated ``since`` up to (not including)
    ``before``, and its immediate alerts up to ``before``."""
    owner = sa.func.coalesce(_LAYOUT.c.subscription, _DIGEST.c.subscription)
    kind = sa.func.coalesce(_LAYOUT.c.kind, "digest")
    failed = _DELIVERY.c.status == DeliveryStatus.FAILED.value
    overdue = sa.and_(_DELIVERY.c.status == DeliveryStatus.PENDING.value, _DELIVERY.c.overdue_at.is_not(None))
    query = (
        sa.select(
            _DIGEST.c.data_date,
            kind,
            _DELIVERY.c.channel,
            _DELIVERY.c.recipient,
            _DELIVERY.c.error,
            _DELIVERY.c.status,
            _DELIVERY.c.created_at,
            _DELIVERY.c.requeued_at,
            _DELIVERY.c.overdue_at,
        )
        .select_from(_DELIVERY.join(_DIGEST, _DIGEST.c.id == _DELIVERY.c.digest_id))
        .outerjoin(_LAYOUT, _LAYOUT.c.digest_id == _DIGEST.c.id)
        .where(
            sa.or_(owner == subscription, _DIGEST.c.subscription.like(f"{subscription}/%")),
            sa.or_(failed, overdue),
            _DIGEST.c.data_date >= since,
            sa.or_(_DIGEST.c.data_date < before, sa.and_(kind == "alert", _DIGEST.c.data_date <= before)),
        )
        .order_by(_DIGEST.c.data_date, _DELIVERY.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    lines = []
    for day, k, channel, recipient, error, status, created, requeued, overdue_at in rows:
        what = f"The {'alert' if k == 'alert' else 'digest'} for {day.isoformat()}"
        reason = " ".join(str(error).split())[:200]
        if status == DeliveryStatus.FAILED.value:
            lines.append(f"{what} could not be delivered to {recipient} ({channel}): {reason}")
        else:
            hours = (_utc(overdue_at) - _utc(requeued or created)).total_seconds() / 3600
            lines.append(
                f"{what} is still not delivered to {recipient} ({channel}) after {hours:.0f} hours"
                f" and is still being retried: {reason}"
            )
    return tuple(lines)


def previous_digest_date(engine: sa.Engine, *, subscription: str, before: date) -> date | None:
    """The data date of ``subscription``'s newest daily digest dated before ``before``."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(_DIGEST.c.data_date)).where(
                _DIGEST.c.subscription == subscription, _DIGEST.c.data_date < before
            )
        ).scalar()
    if isinstance(value, str):  # SQLite aggregates lose the column type
        return date.fromisoformat(value)
    return value if isinstance(value, date) else None


def pending_alerts(engine: sa.Engine, *, subscription: str, since: date, until: date) -> tuple[int, ...]:
    """Ids of ``subscription``'s immediate alerts dated ``since..until`` with deliveries still pending."""
    query = (
        sa.select(_DIGEST.c.id)
        .join(_LAYOUT, _LAYOUT.c.digest_id == _DIGEST.c.id)
        .where(
            _LAYOUT.c.subscription == subscription,
            _LAYOUT.c.kind == "alert",
            _DIGEST.c.data_date >= since,
            _DIGEST.c.data_date <= until,
            sa.exists().where(
                _DELIVERY.c.digest_id == _DIGEST.c.id, _DELIVERY.c.status == DeliveryStatus.PENDING.value
            ),
        )
        .order_by(_DIGEST.c.id)
    )
    with engine.connect() as conn:
        return tuple(int(i) for i in conn.execute(query).scalars())


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
