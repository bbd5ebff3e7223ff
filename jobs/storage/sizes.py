"""How big a stored property is, cheaply (from the covering index, no values read)."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.storage.tables import MetricPointRow

__all__ = ["stored_series"]

_POINTS = MetricPointRow.__table__  # type: ignore[attr-defined]


def stored_series(engine: sa.Engine, prop_id: int) -> int:
    """Series of the property's largest metric on its newest stored day (0: nothing stored)."""
    newest = sa.select(sa.func.max(_POINTS.c.day)).where(_POINTS.c.property_id == prop_id).scalar_subquery()
    per_metric = (
        sa.select(sa.func.count().label("n"))
        .where(_POINTS.c.property_id == prop_id, _POINTS.c.day == newest)
        .group_by(_POINTS.c.metric)
        .subquery()
    )
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(per_metric.c.n), 0))).scalar_one())
