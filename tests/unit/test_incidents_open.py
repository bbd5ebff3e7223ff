"""Which sustained changes are still open on a day (jobs.detection.incidents)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from jobs.detection.incidents import LOOKBACK_DAYS, open_incidents
from jobs.domain import Finding, Kind
from tests.fakes import DATA_DATE, finding

DAY = DATA_DATE + timedelta(days=4)


def _opened(days_before: int, observed: float = 600.0, finding_id: int = 1) -> Finding:
    f = finding(observed=observed, expected=1000.0, kind=Kind.LEVEL_SHIFT, finding_id=finding_id)
    return replace(f, anomaly=replace(f.anomaly, day=DAY - timedelta(days=days_before)))


def _values(v: float) -> dict[tuple[str, str, str], float]:
    return {("shop", "total", "sessions"): v}


def test_open_while_at_least_half_as_far_off_and_closed_once_recovered() -> None:
    (still,) = open_incidents([_opened(4)], _values(790.0), day=DAY)
    assert (still.days, round(still.change, 2)) == (5, -0.21)
    assert open_incidents([_opened(4)], _values(820.0), day=DAY) == ()  # recovered: less than half as far off
    assert open_incidents([_opened(4)], _values(1300.0), day=DAY) == ()  # the other way is no drop


def test_labelled_shown_today_or_too_old_is_not_listed() -> None:
    opened = _opened(4, finding_id=7)
    assert open_incidents([opened], _values(600.0), day=DAY, closed={7}) == ()
    today = replace(opened, anomaly=replace(opened.anomaly, day=DAY))
    assert open_incidents([opened], _values(600.0), day=DAY, news=[today]) == ()
    assert open_incidents([_opened(LOOKBACK_DAYS + 1)], _values(600.0), day=DAY) == ()
    assert open_incidents([opened], {}, day=DAY) == ()  # no value today: nothing to say


def test_the_earliest_opening_still_open_speaks() -> None:
    first, second = _opened(9, finding_id=1), _opened(2, observed=300.0, finding_id=2)
    (only,) = open_incidents([first, second], _values(590.0), day=DAY)
    assert only.finding.id == 1
    assert only.finding.anomaly.day == date.fromordinal(DAY.toordinal() - 9)
