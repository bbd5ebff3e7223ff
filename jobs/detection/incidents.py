"""Incidents with a life cycle: which sustained changes are still open on a day.

A LEVEL_SHIFT or OUTAGE finding opens an incident on its series x metric x direction.
Detection reports it once (the days after are an ongoing shift, not news), so without
this the digest would say "all quiet" while sessions stay 40% down. An incident is open
on day D when:

- it opened within :data:`LOOKBACK_DAYS` before D (and is not news on D itself: a
  finding of the same series, metric and direction on D is shown in full instead);
- nobody labelled its finding ``expected`` (the new level accepted) or ``false_alarm``;
- its series is still at least :data:`HOLD` as far off the old level, the same way, as
  when it opened (otherwise it recovered).

Of several openings of one series x metric x direction, the earliest still-open one
speaks (its day is the incident's first day).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date

from jobs.domain import Direction, Finding, Kind, Ongoing

__all__ = ["HOLD", "LOOKBACK_DAYS", "OPENERS", "open_incidents"]

OPENERS = (Kind.LEVEL_SHIFT, Kind.OUTAGE)
#: An incident stays open while the series is at least this share as far off its old level.
HOLD = 0.5
#: How far back an opening finding is looked for.
LOOKBACK_DAYS = 90

Key = tuple[str, str, str, str]  # property, series, metric, direction


def _key(f: Finding) -> Key:
    a = f.anomaly
    return (a.property, a.series, a.metric, a.direction.value)


def _still_off(f: Finding, observed: float) -> bool:
    a = f.anomaly
    if a.expected <= 0:
        return False
    then = a.observed / a.expected - 1.0
    now = observed / a.expected - 1.0
    if a.direction is Direction.DOWN:
        return now <= HOLD * then < 0
    return now >= HOLD * then > 0


def open_incidents(
    opened: Iterable[Finding],
    values: Mapping[tuple[str, str, str], float],
    *,
    day: date,
    news: Iterable[Finding] = (),
    closed: Collection[int] = (),
) -> tuple[Ongoing, ...]:
    """The incidents open on ``day`` (see the module docstring).

    ``opened``: level shifts and outages of the look-back, oldest first; ``values``: each
    (property, series, metric)'s value on ``day``; ``news``: the findings shown on ``day``;
    ``closed``: ids of findings labelled expected or false alarm.
    """
    shown = {_key(f) for f in news}
    out: dict[Key, Ongoing] = {}
    for f in opened:
        a = f.anomaly
        key = _key(f)
        if key in out or key in shown or f.id in closed or not 0 < (day - a.day).days <= LOOKBACK_DAYS:
            continue
        value = values.get((a.property, a.series, a.metric))
        if value is not None and _still_off(f, value):
            out[key] = Ongoing(f, value, day)
    return tuple(out.values())
