"""Mutes (snoozes): "don't tell us about this until then".

A pattern is ``PROPERTY[/METRIC[/SERIES]]``; each part is a shell-style wildcard
(``*``, ``?``, ``[abc]``), matched case-sensitively, and a missing part matches
everything. The series comes last because series names contain slashes::

    shop                              everything on shop
    shop/keyEvents                    key events on shop, total and breakdowns
    shop/sessions/landingPage:/blog*  sessions of the blog's landing pages
    */*/query:*brand*                 any metric of a query containing "brand"
    shop/*/total                      only shop's totals

A mute ends at ``until`` or when it is removed (``barometer unmute ID``); digests and
immediate alerts consult the mutes active at the moment they are built, so an expired
mute silences nothing. Muted findings are listed in the digest as held back, with the
mute's end and reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import cast

import sqlalchemy as sa

from alerts.errors import AlertsError
from jobs.domain import Finding
from jobs.storage.tables import MuteRow

__all__ = ["Mute", "active_mutes", "add_mute", "list_mutes", "parse_pattern", "remove_mute"]

_T = cast(sa.Table, MuteRow.__table__)  # type: ignore[attr-defined]  # set by SQLModel at class creation
_PROPERTY_PART = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]+$")


@lru_cache(maxsize=1024)
def parse_pattern(pattern: str) -> tuple[str, str, str]:
    """``(property, metric, series)`` globs of ``pattern``; raises AlertsError when malformed."""
    text = pattern.strip()
    prop, _, rest = text.partition("/")
    metric, _, series = rest.partition("/")
    if not prop or not _PROPERTY_PART.match(prop):
        raise AlertsError(
            f"mute pattern {pattern!r}: expected PROPERTY[/METRIC[/SERIES]] with wildcards, e.g. 'shop/keyEvents'"
        )
    if "/" in text and not metric:
        raise AlertsError(f"mute pattern {pattern!r}: the metric part after the first '/' is empty (use '*')")
    return prop, metric or "*", series or "*"


@dataclass(frozen=True, slots=True)
class Mute:
    """One stored mute."""

    id: int
    pattern: str
    subscription: str  # "" = every subscription
    reason: str
    created_at: datetime
    until: datetime
    removed_at: datetime | None = None

    def matches(self, finding: Finding, *, subscription: str) -> bool:
        """Whether this mute silences ``finding`` for ``subscription``."""
        if self.subscription and self.subscription != subscription:
            return False
        prop, metric, series = parse_pattern(self.pattern)
        a = finding.anomaly
        return fnmatchcase(a.property, prop) and fnmatchcase(a.metric, metric) and fnmatchcase(a.series, series)

    def active(self, now: datetime) -> bool:
        return self.removed_at is None and _utc(now) < self.until


def add_mute(
    engine: sa.Engine, *, pattern: str, until: datetime, reason: str = "", subscription: str = "", now: datetime
) -> Mute:
    """Store a mute of ``pattern`` until ``until`` (must be in the future); return it."""
    parse_pattern(pattern)
    start, end = _utc(now), _utc(until)
    if end <= start:
        raise AlertsError(f"mute until {end:%Y-%m-%d %H:%M} UTC: that is not in the future")
    values = {
        "pattern": pattern.strip(),
        "subscription": subscription,
        "reason": " ".join(reason.split())[:500],
        "created_at": start,
        "until": end,
    }
    with engine.begin() as conn:
        mute_id = conn.execute(sa.insert(_T).values(**values).returning(_T.c.id)).scalar_one()
    return Mute(id=int(mute_id), **values)  # type: ignore[arg-type]


def list_mutes(engine: sa.Engine, *, now: datetime, include_inactive: bool = False) -> tuple[Mute, ...]:
    """Mutes in force at ``now`` (or all of them), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_T).order_by(_T.c.id)).mappings().all()
    mutes = tuple(_mute(r) for r in rows)
    return mutes if include_inactive else tuple(m for m in mutes if m.active(now))


def active_mutes(engine: sa.Engine, *, now: datetime) -> tuple[Mute, ...]:
    """The mutes that silence findings at ``now``."""
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(_T).where(_T.c.removed_at.is_(None), _T.c.until > _utc(now)).order_by(_T.c.id))
            .mappings()
            .all()
        )
    return tuple(_mute(r) for r in rows)


def remove_mute(engine: sa.Engine, mute_id: int, *, now: datetime) -> Mute:
    """End mute ``mute_id`` now; raises AlertsError when there is no such mute in force."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.id == mute_id)).mappings().first()
        if row is None:
            raise AlertsError(f"no mute with id {mute_id} (see `barometer mute list`)")
        mute = _mute(row)
        if not mute.active(now):
            ended = mute.removed_at or mute.until
            raise AlertsError(f"mute {mute_id} ({mute.pattern}) already ended at {ended:%Y-%m-%d %H:%M} UTC")
        conn.execute(sa.update(_T).where(_T.c.id == mute_id).values(removed_at=_utc(now)))
    return Mute(
        mute.id, mute.pattern, mute.subscription, mute.reason, mute.created_at, mute.until, removed_at=_utc(now)
    )


def _mute(row: sa.RowMapping) -> Mute:
    removed = row["removed_at"]
    return Mute(
        id=int(row["id"]),
        pattern=str(row["pattern"]),
        subscription=str(row["subscription"]),
        reason=str(row["reason"]),
        created_at=_utc(row["created_at"]),
        until=_utc(row["until"]),
        removed_at=None if removed is None else _utc(removed),
    )


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
