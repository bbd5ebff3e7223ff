"""GA4 token budgets across hourly runs: what the last response said is left, kept.

Every GA4 Data API response of an hourly run reports what is left of the property's token
budgets (``returnPropertyQuota``). Within one run the source stops once a budget falls
below the daily run's reserve; this module carries that knowledge to the next runs, so
that beat's runs, retries and manual runs do not each spend one more request below it:

1. After a fetch, :func:`record` stores per budget the remaining tokens and when.
2. Before the next fetch, :func:`known` returns the observations still telling: a
   per-hour budget's for 60 minutes (whether Google's hour is a clock hour or a rolling
   one, its tokens are back by then), the per-day budget's until midnight Pacific time,
   when GA4 resets it.
3. :func:`short_of` names the first budget below its floor; the run then sends nothing.

The reserve itself is overshot by one request at most: the one whose response revealed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from jobs.hourly.tables import HourlyQuotaRow

__all__ = ["known", "record", "short_of"]

_QUOTA = cast(sa.Table, HourlyQuotaRow.__table__)  # type: ignore[attr-defined]
PACIFIC = ZoneInfo("America/Los_Angeles")
_HOURLY_MEMORY = timedelta(minutes=60)
_LABELS = {
    "tokens_per_day": "per day",
    "tokens_per_hour": "per hour",
    "tokens_per_project_per_hour": "per project per hour",
}


def record(engine: sa.Engine, prop_id: int, remaining: Mapping[str, int], *, at: datetime) -> None:
    """Store what is left of each budget in ``remaining``, observed ``at``."""
    rows = [
        {"property_id": prop_id, "budget": budget, "remaining": int(left), "observed_at": at}
        for budget, left in remaining.items()
        if budget in _LABELS
    ]
    if not rows:
        return
    base = postgresql.insert(_QUOTA) if engine.dialect.name == "postgresql" else sqlite.insert(_QUOTA)
    stmt = base.on_conflict_do_update(
        index_elements=["property_id", "budget"],
        set_={"remaining": base.excluded.remaining, "observed_at": base.excluded.observed_at},
    )
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def _telling(budget: str, observed: datetime, now: datetime) -> bool:
    if budget == "tokens_per_day":
        return observed.astimezone(PACIFIC).date() == now.astimezone(PACIFIC).date()
    return now - observed < _HOURLY_MEMORY


def known(engine: sa.Engine, prop_id: int, *, now: datetime) -> dict[str, int]:
    """The budgets' remaining tokens still telling at ``now`` (see the module docstring)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_QUOTA.c.budget, _QUOTA.c.remaining, _QUOTA.c.observed_at).where(_QUOTA.c.property_id == prop_id)
        ).all()
    out = {}
    for budget, left, observed in rows:
        at = observed if observed.tzinfo is not None else observed.replace(tzinfo=UTC)
        if _telling(str(budget), at, now):
            out[str(budget)] = int(left)
    return out


def short_of(remaining: Mapping[str, int], floors: Mapping[str, int]) -> str | None:
    """One line naming the first budget below its floor, or None when all are above."""
    for budget, label in _LABELS.items():
        left, floor = remaining.get(budget), floors.get(budget, 0)
        if left is not None and left < floor:
            return f"only {left} GA4 quota tokens {label} left, below the daily run's reserve of {floor}"
    return None
