"""The hourly watch's rules on generated hours: collapses, partial hours, and the noise split."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from jobs.domain import Kind
from jobs.hourly.baseline import shared_share
from jobs.hourly.domain import WEEK_HOURS, Frontier, HourlyPanel
from jobs.hourly.params import HourlyParams
from jobs.hourly.rules import newest_per_problem, score_panel

START = datetime(2026, 9, 7)  # a Monday
WEEKS = 10
CURVE = 0.3 + np.exp(-0.5 * ((np.arange(24) - 14) / 4.0) ** 2)


def _rates(level: float) -> np.ndarray:
    t = np.arange(WEEKS * WEEK_HOURS)
    return np.asarray(level * CURVE[t % 24] / CURVE.mean())


def _panel(seed: int = 5, *, small: float = 14.0) -> HourlyPanel:
    """A total and four landing pages, Poisson around a daily curve with a little excess."""
    rng = np.random.default_rng(seed)
    levels = [small, 60.0, 80.0, 120.0]
    rates = np.vstack([_rates(x) * rng.gamma(50.0, 1 / 50.0, WEEKS * WEEK_HOURS) for x in levels])
    children = rng.poisson(rates).astype(float)
    values = np.vstack([children.sum(axis=0), children])
    names = ("total", "landingPage:/small", "landingPage:/b", "landingPage:/c", "landingPage:/d")
    return HourlyPanel("shop", "sessions", names, START, values)


def _day_hour(panel: HourlyPanel, hour: int) -> int:
    """The column of ``hour`` o'clock on the last Tuesday of the panel."""
    return (WEEKS - 1) * WEEK_HOURS + 24 + hour


def _found(panel: HourlyPanel, frontier: Frontier, targets: range) -> list[tuple[str, Kind, datetime, datetime]]:
    found = newest_per_problem(score_panel(panel, frontier, HourlyParams(), targets=targets))
    return [(h.finding.anomaly.series, h.finding.anomaly.kind, h.start, h.end) for h in found]


def test_a_quiet_property_raises_nothing() -> None:
    panel = _panel()
    complete = _day_hour(panel, 22)
    frontier = Frontier(panel.hour_at(complete))
    assert _found(panel, frontier, range(complete - 48, complete)) == []


def test_a_small_series_down_for_hours_is_a_collapse_though_two_hours_alone_prove_nothing() -> None:
    panel = _panel()
    start = _day_hour(panel, 12)
    panel.values[1, start : start + 6] = np.round(panel.values[1, start : start + 6] * 0.25)
    panel.values[0] = panel.values[1:].sum(axis=0)
    end = start + 6
    found = _found(panel, Frontier(panel.hour_at(end)), range(start, end))
    collapses = [f for f in found if f[0] == "landingPage:/small"]
    assert len(collapses) == 1
    _, kind, first, last = collapses[0]
    assert kind is Kind.DROP
    assert last - first > 2 * (panel.hour_at(1) - panel.hour_at(0))  # more than two hours of evidence
    assert last <= panel.hour_at(end)


def test_the_hour_in_progress_extends_a_collapse_scaled_by_its_minutes() -> None:
    panel = _panel(small=80.0)
    start = _day_hour(panel, 8)
    panel.values[1, start : start + 3] = np.round(panel.values[1, start : start + 3] * 0.2)
    ten = start + 2
    elapsed = 40 / 60
    panel.values[1, ten] = np.round(panel.values[1, ten] * elapsed)  # 10:00-10:40, still down
    at_1040 = Frontier(panel.hour_at(ten), partial=elapsed)
    found = _found(panel, at_1040, range(ten - 3, ten))
    assert ("landingPage:/small", Kind.DROP, panel.hour_at(start), datetime(2026, 11, 10, 10, 40)) in found


def test_an_hour_in_progress_back_to_normal_ends_no_collapse() -> None:
    panel = _panel(small=80.0)
    start = _day_hour(panel, 8)
    ten = start + 2
    panel.values[1, start:ten] = np.round(panel.values[1, start:ten] * 0.2)
    expected_share = 40 / 60
    panel.values[1, ten] = np.round(panel.values[1, ten] * expected_share)  # normal for 40 minutes
    found = _found(panel, Frontier(panel.hour_at(ten), partial=expected_share), range(ten - 3, ten))
    ends = [last for series, kind, _, last in found if series == "landingPage:/small" and kind is Kind.DROP]
    assert ends == [panel.hour_at(ten)]  # the complete hours' collapse, not one through 10:40


@pytest.mark.parametrize(("day_sd", "low", "high"), [(0.0, 0.0, 0.2), (0.25, 0.35, 0.85)])
def test_the_shared_share_of_the_excess_follows_day_to_day_shocks(day_sd: float, low: float, high: float) -> None:
    rng = np.random.default_rng(11)
    hours = WEEK_HOURS
    mu = np.tile(_rates(200.0)[:hours], (60, 1))
    day = np.exp(rng.normal(0.0, day_sd, (60, 7)))[:, np.arange(hours) // 24] if day_sd else 1.0
    x = rng.poisson(mu * day * rng.gamma(1 / 0.05, 0.05, mu.shape)).astype(float)
    assert low <= shared_share(x, mu, 0) <= high
