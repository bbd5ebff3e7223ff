"""When an hourly incident is over: the first complete hour from which the series stays
back within bounds (a fall: above ``1 - collapse_pct`` of its expectation; a spike: below
``spike_ratio`` times it) through the newest complete hour."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from jobs.hourly.baseline import expectations, groups_of
from jobs.hourly.domain import HOUR, Frontier, HourlyPanel, hour_floor
from jobs.hourly.params import HourlyParams

__all__ = ["recovered_at"]


def recovered_at(
    panel: HourlyPanel, series: str, *, down: bool, since: datetime, frontier: Frontier, params: HourlyParams
) -> datetime | None:
    """The local start of the hour the series recovered in, or None while it has not."""
    if series not in panel.series:
        return None
    first = panel.index(hour_floor(since) + HOUR)
    complete = min(panel.index(frontier.complete), panel.hours)
    if first < 0 or first >= complete:
        return None
    values = panel.values.copy()
    known = ~np.all(np.isnan(values[:, first:complete]), axis=0)
    exp = expectations(values, first, complete, first, params, groups=groups_of(panel.series))
    row = panel.series.index(series)
    x = np.nan_to_num(values[row, first:complete], nan=0.0)
    mu = exp.mu[row, first - exp.lo : complete - exp.lo]
    with np.errstate(invalid="ignore"):
        ok = x > (1.0 - params.collapse_pct) * mu if down else x < params.spike_ratio * mu
    ok &= known & np.isfinite(mu)
    if not ok[-1]:
        return None
    back = len(ok) - int(np.argmin(ok[::-1])) if not ok.all() else 0
    return panel.hour_at(first + back)
