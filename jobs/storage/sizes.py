"""How big a stored property is, cheaply: index seeks only, no scan of its points."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.storage.points import stored_metrics
from jobs.storage.tables import MetricPointRow

__all__ = ["stored_series"]

_POINTS = MetricPointRow.__table__  # type: ignore[attr-defined]


def stored_series(engine: sa.Engine, prop_id: int) -> int:
    """Series of the property's largest metric on that metric's newest stored day (0: none).

    Metric by metric (found by :func:`jobs.storage.points.stored_metrics`' skip scan of the
    key ``(property_id, metric, day, series)``; its newest day and that day's rows are seeks
    on it too), so a property of millions of points is sized in milliseconds, where one
    grouped query reads every point of it.
    """
    c = _POINTS.c
    largest = 0
    with engine.connect() as conn:
        for metric in stored_metrics(engine, prop_id):
            mine = (c.property_id == prop_id) & (c.metric == metric)
            newest = conn.execute(sa.select(sa.func.max(c.day)).where(mine)).scalar()
            count = conn.execute(sa.select(sa.func.count()).where(mine, c.day == newest)).scalar_one()
            largest = max(largest, int(count))
    return largest
