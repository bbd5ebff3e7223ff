"""Days a property's traffic is expected to be unusual: for a property with a ``country``,
its public holidays (python-holidays) and the days around Christmas and New Year (24-26
and 31 December, 1 January), which move web traffic in most of the world whatever the
calendar says. A property without a country has none (detection as before).

On such a day detection widens the interval (:data:`WIDEN`: twice the standard
deviation), caps a finding's severity at low, and leaves the day out of later baselines,
so a holiday neither alarms as a high-severity drop nor drags the level after it.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

__all__ = ["WIDEN", "holiday_dates", "known_country"]

#: On a holiday the predictive variance is this many times the usual (twice the sd).
WIDEN = 4.0
_SEASON = ((12, 24), (12, 25), (12, 26), (12, 31), (1, 1))


def known_country(code: str) -> bool:
    """Does python-holidays know the ISO 3166 country ``code``?"""
    import holidays

    return code.upper() in holidays.list_supported_countries()


@lru_cache(maxsize=256)
def holiday_dates(country: str, first: date, last: date) -> frozenset[date]:
    """The holidays of ``country`` in ``first..last``, the Christmas-New Year days included
    ("": none)."""
    if not country:
        return frozenset()
    import holidays

    years = range(first.year, last.year + 1)
    days = {date(y, m, d) for y in years for m, d in _SEASON}
    days |= set(holidays.country_holidays(country.upper(), years=list(years)))
    return frozenset(d for d in days if first <= d <= last)
