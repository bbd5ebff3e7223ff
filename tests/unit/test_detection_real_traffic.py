"""Detection on shapes seen in real traffic: bursts, the return after one, holidays,
tracking breaks right after another change."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np

from jobs.detection import detect, detect_range
from jobs.detection.params import DetectionParams
from jobs.domain import Kind, MetricPanel, Severity

WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])


def _series(
    end: date, days: int, level: float, *, seed: int, alpha: float = 0.05
) -> tuple[tuple[date, ...], np.ndarray]:
    rng = np.random.default_rng(seed)
    dates = tuple(end - timedelta(days=days - 1 - i) for i in range(days))
    mean = level * WEEKDAY[[d.weekday() for d in dates]]
    values = rng.poisson(rng.gamma(1 / alpha, mean * alpha)).astype(np.float64)
    return dates, values


def _panel(dates: tuple[date, ...], values: np.ndarray, *, prop: str = "site") -> MetricPanel:
    return MetricPanel(prop, "sessions", ("total",), dates, values[None, :].copy(), last_final=dates[-1])


def test_a_burst_after_an_elevated_week_is_reported() -> None:
    # a noisy series (like page views) in a news week: traffic doubled for a week, then a
    # day at five times its usual level; the "shifted regime" must not absorb it
    end = date(2024, 6, 30)
    dates, values = _series(end, 120, 1000.0, seed=1, alpha=0.3)
    values[-8:-1] *= 2.0
    values[-1] = 5.0 * 1000.0 * WEEKDAY[end.weekday()]
    found = detect([_panel(dates, values)], DetectionParams(), day=end)
    assert [(f.anomaly.day, f.anomaly.kind) for f in found] == [(end, Kind.SPIKE)]


def test_the_return_to_normal_after_a_two_week_burst_is_not_a_drop() -> None:
    end = date(2024, 6, 30)
    dates, values = _series(end, 140, 1000.0, seed=2)
    burst = len(dates) - 30
    shape = np.array([20, 8, 8, 6, 6, 5, 5, 5, 4, 4, 4, 4, 4, 3.5])
    values[burst : burst + shape.size] *= shape
    found = detect_range([_panel(dates, values)], DetectionParams(), start=dates[burst], end=end)
    assert [f.anomaly.day for f in found if f.anomaly.observed < f.anomaly.expected] == []
    assert found[0].anomaly.day == dates[burst]
    assert found[0].anomaly.kind is Kind.SPIKE
    # the burst fading is one burst, not a new spike every day
    assert len(found) <= 3


def test_christmas_is_not_a_high_severity_drop_and_does_not_move_the_baseline() -> None:
    end = date(2024, 1, 10)
    dates, values = _series(end, 150, 2000.0, seed=3, alpha=0.01)
    for n, d in enumerate(dates):
        if (d.month, d.day) in ((12, 24), (12, 25), (12, 26), (12, 31), (1, 1)):
            values[n] *= 0.45
    params = replace(DetectionParams(), countries={"site": "DE"})
    found = detect_range([_panel(dates, values)], params, start=date(2023, 12, 20), end=end)
    assert all(f.severity is Severity.LOW for f in found), [(f.anomaly.day, f.severity) for f in found]
    assert not [f for f in found if f.anomaly.day > date(2024, 1, 1)]


def test_a_tracking_break_right_after_a_drop_is_an_outage() -> None:
    end = date(2024, 6, 30)
    dates, values = _series(end, 120, 3000.0, seed=4, alpha=0.01)
    values[-4:-1] *= 0.55  # sessions down for three days (a level shift, reported)
    values[-1] = 3.0  # then the tag breaks
    found = detect([_panel(dates, values)], DetectionParams(), day=end)
    assert [(f.anomaly.day, f.anomaly.kind) for f in found] == [(end, Kind.OUTAGE)]


def test_position_on_a_deep_page_with_few_impressions_is_not_judged() -> None:
    # a deep page: about 60 impressions a day, its average rank wandering around 40; on the
    # last day it sits 8 ranks lower, on as few impressions: noise, not news
    end = date(2024, 6, 30)
    rng = np.random.default_rng(7)
    dates, shown = _series(end, 120, 60.0, seed=8, alpha=0.02)
    rank = 40.0 + rng.normal(0.0, 0.6, len(dates))
    rank[-1] += 8.0
    name = ("query:deep",)
    impressions = MetricPanel("gsc", "impressions", name, dates, shown[None, :], last_final=end)
    position = MetricPanel("gsc", "position", name, dates, rank[None, :], last_final=end)
    assert detect([impressions, position], DetectionParams(), day=end) == ()
    # the same move on a page with thousands of impressions is reported
    shown_big = shown * 50.0
    impressions = MetricPanel("gsc", "impressions", name, dates, shown_big[None, :], last_final=end)
    found = detect([impressions, position], DetectionParams(), day=end)
    assert [(f.anomaly.metric, f.anomaly.day) for f in found] == [("position", end)]


def test_position_is_judged_in_its_impressions() -> None:
    # a page on ~3,000 impressions a day whose average rank wanders by about 0.3; on the last
    # day it is shown only 150 times (a few odd queries) at a rank 3 worse: an average over
    # 150 impressions is twenty times noisier, so that is no finding; the same rank on the
    # usual impressions is
    end = date(2024, 6, 30)
    rng = np.random.default_rng(9)
    dates, shown = _series(end, 120, 3000.0, seed=10, alpha=0.01)
    rank = 8.0 + rng.normal(0.0, 0.3, len(dates))
    rank[-1] += 3.0
    name = ("page:/guide",)
    position = MetricPanel("gsc", "position", name, dates, rank[None, :], last_final=end)
    few = shown.copy()
    few[-1] = 150.0
    impressions = MetricPanel("gsc", "impressions", name, dates, few[None, :], last_final=end)
    found = detect([impressions, position], DetectionParams(), day=end)
    assert [f.anomaly.metric for f in found if f.anomaly.metric == "position"] == []
    impressions = MetricPanel("gsc", "impressions", name, dates, shown[None, :], last_final=end)
    found = detect([impressions, position], DetectionParams(), day=end)
    assert [(f.anomaly.metric, f.anomaly.day) for f in found] == [("position", end)]


def test_a_day_within_twice_its_weekday_usual_is_no_burst_after_a_low_spell() -> None:
    # a noisy series (bike rides, page views) has ten days of bad weather at half its level,
    # then a fine day at 1.7 times its weekday's usual level: over three times the dipped
    # baseline, but nothing the series does not do. A burst is far above its usual level too.
    end = date(2024, 6, 30)
    dates, values = _series(end, 120, 1000.0, seed=5, alpha=0.2)
    values[-11:-1] *= 0.5
    usual = float(np.median(values[-57:-1:7]))  # the same weekday over the 8 weeks before
    values[-1] = round(1.7 * usual)
    assert detect([_panel(dates, values)], DetectionParams(), day=end) == ()
    values[-1] = round(4.0 * usual)  # a burst is still one
    found = detect([_panel(dates, values)], DetectionParams(), day=end)
    assert [(f.anomaly.day, f.anomaly.kind) for f in found] == [(end, Kind.SPIKE)]
