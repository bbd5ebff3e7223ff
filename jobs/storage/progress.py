"""Backfill progress: the days of a property stored completely, so a rerun resumes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import sqlalchemy as sa

from jobs.storage.tables import FetchedDayRow

__all__ = ["done_days", "forget_days", "mark_done"]

_DAYS = FetchedDayRow.__table__  # type: ignore[attr-defined]


def done_days(engine: sa.Engine, prop_id: int, *, start: date, end: date) -> set[date]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_DAYS.c.day).where(_DAYS.c.property_id == prop_id, _DAYS.c.day >= start, _DAYS.c.day <= end)
        ).scalars()
        return {d if isinstance(d, date) else date.fromisoformat(str(d)) for d in rows}


def mark_done(engine: sa.Engine, prop_id: int, days: Iterable[date], *, points: int = 0) -> None:
    """Record ``days`` as complete (``points`` is what the whole chunk stored)."""
    now = datetime.now(UTC)
    rows = [{"property_id": prop_id, "day": d, "points": points, "fetched_at": now} for d in days]
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(sa.delete(_DAYS).where(_DAYS.c.property_id == prop_id, _DAYS.c.day.in_([r["day"] for r in rows])))
        conn.execute(sa.insert(_DAYS), rows)


def forget_days(engine: sa.Engine, prop_id: int, *, start: date, end: date) -> int:
    """Forget progress from ``start`` to ``end`` (``backfill --restart``); return days forgotten."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.delete(_DAYS).where(_DAYS.c.property_id == prop_id, _DAYS.c.day >= start, _DAYS.c.day <= end)
            ).rowcount
        )
