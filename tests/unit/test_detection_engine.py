"""Detection on synthetic panels: calibration, walk-forward, level shifts, knobs, panels."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from jobs.detection import build_panels, detect, detect_range, finding_to_json, severity
from jobs.detection.baseline import fit
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams, DirectionFilter
from jobs.detection.stats import DayScores, Model, score_day
from jobs.domain import TOTAL_SERIES, Direction, Kind, MetricPanel, Observation, PointFlag, Severity

END = date(2024, 6, 30)
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])


def _dates(n: int) -> tuple[date, ...]:
    return tuple(END - timedelta(days=n - 1 - i) for i in range(n))


def _nb(rng: np.random.Generator, mean: np.ndarray, alpha: float) -> np.ndarray:
    return rng.poisson(rng.gamma(1 / alpha, mean * alpha)).astype(np.float64)


def _panel(values: np.ndarray, series: tuple[str, ...], *, metric: str = "sessions", prop: str = "p") -> MetricPanel:
    dates = _dates(values.shape[1])
    return MetricPanel(prop, metric, series, dates, values, last_final=dates[-1])


def _seasonal(
    n_series: int, n_days: int, level: float | list[int] | np.ndarray, seed: int, alpha: float = 0.01
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weekday = WEEKDAY[[d.weekday() for d in _dates(n_days)]]
    mean = np.broadcast_to(np.asarray(level, dtype=np.float64).reshape(-1, 1), (n_series, 1)) * weekday[None, :]
    return _nb(rng, mean, alpha)


def _two_sided(s: DayScores) -> np.ndarray:
    return np.minimum(1.0, 2.0 * np.minimum(s.p_low, s.p_high))


def test_p_values_are_calibrated_on_anomaly_free_negative_binomial_data() -> None:
    rng = np.random.default_rng(3)
    levels = rng.uniform(30, 3000, 400)
    values = _seasonal(400, 100, levels, seed=4, alpha=0.02)
    groups = np.zeros(400, dtype=np.int64)
    p = np.concatenate(
        [
            _two_sided(score_day(values, col, model=Model.COUNT, training_days=56, groups=groups))
            for col in range(70, 100)
        ]
    )
    assert np.isfinite(p).all()
    for alpha, low, high in ((0.05, 0.035, 0.065), (0.01, 0.005, 0.016), (0.001, 0.0, 0.0025)):
        share = float(np.mean(p < alpha))
        assert low <= share <= high, (alpha, share)


def test_ctr_p_values_are_calibrated_with_their_impressions() -> None:
    rng = np.random.default_rng(11)
    shown = _seasonal(300, 100, rng.uniform(200, 20_000, 300), seed=12, alpha=0.01)
    rate = rng.uniform(0.01, 0.2, (300, 1)) * rng.gamma(200.0, 1 / 200.0, (300, 100))
    ctr = rng.binomial(shown.astype(np.int64), rate) / shown
    groups = np.zeros(300, dtype=np.int64)
    p = np.concatenate(
        [
            _two_sided(score_day(ctr, c, model=Model.RATE, training_days=56, groups=groups, denominators=shown))
            for c in range(70, 100)
        ]
    )
    for alpha, low, high in ((0.05, 0.03, 0.07), (0.01, 0.004, 0.018)):
        share = float(np.mean(p < alpha))
        assert low <= share <= high, (alpha, share)


def test_past_incidents_do_not_widen_the_noise_later_days_are_judged_against() -> None:
    # Five big past incidents (spikes x3, a day each) in the 8 training weeks: the baseline
    # leaves them out, and so does the noise estimate (kept at the winsor's reach they made
    # the predictive standard deviation 2.5 times wider).
    clean = _seasonal(200, 70, 5000, seed=21, alpha=0.005)
    hit = clean.copy()
    for day in (15, 24, 33, 45, 58):
        hit[:, day] *= 3.0
    groups = np.zeros(200, dtype=np.int64)
    sd_clean = score_day(clean, 69, model=Model.COUNT, training_days=56, groups=groups).sd
    sd_hit = score_day(hit, 69, model=Model.COUNT, training_days=56, groups=groups).sd
    assert float(np.median(sd_hit / sd_clean)) < 1.05


def test_a_day_is_decided_without_looking_ahead() -> None:
    values = _seasonal(3, 120, [1000, 600, 400], seed=5)
    values[0] = values[1:].sum(axis=0)
    values[:, 99] *= 0.4  # an incident on day 99
    series = (TOTAL_SERIES, "channel:a", "channel:b")
    day = _dates(120)[99]
    truncated = MetricPanel("p", "sessions", series, _dates(120)[:100], values[:, :100].copy(), last_final=day)
    future = values.copy()
    future[:, 100:] = 1e6  # wild numbers after the day must not matter
    full = _panel(future, series)
    a = detect([truncated], DetectionParams(), day=day)
    b = detect([full], DetectionParams(), day=day)
    assert a
    assert [finding_to_json(f) for f in a] == [finding_to_json(f) for f in b]
    assert [f.chart for f in a] == [f.chart for f in b]
    ranged = detect_range([full], DetectionParams(), start=day, end=day)
    assert [finding_to_json(f) for f in ranged] == [finding_to_json(f) for f in a]


def test_a_level_shift_is_reported_once_on_the_day_it_qualifies() -> None:
    values = _seasonal(1, 120, 800, seed=6)
    values[0, 90:] *= 0.5
    panel = _panel(values, (TOTAL_SERIES,))
    found = detect_range([panel], DetectionParams(), start=panel.dates[85], end=panel.dates[-1])
    kinds = [(panel.dates.index(f.anomaly.day), f.anomaly.kind) for f in found]
    assert kinds == [(90, Kind.DROP), (91, Kind.DROP), (92, Kind.LEVEL_SHIFT)]
    assert found[2].severity is Severity.HIGH


def test_weeks_after_a_level_shift_the_new_level_raises_no_alarm() -> None:
    # A declining series steps down on day 80. Weeks later the trend line over the training
    # window leans across the step, and extrapolating it undershoots the new level: days on
    # the new level would look like spikes. 40 such series, scored from day 95 (the step's
    # third week) to day 149: extrapolating the whole line alarmed on 5 of them.
    days = []
    for factor in (0.45, 0.6):
        for seed in range(20):
            rng = np.random.default_rng(seed)
            mean = 900 * np.exp(-0.3 * np.arange(150) / 120) * WEEKDAY[[d.weekday() for d in _dates(150)]]
            mean[80:] *= factor
            panel = _panel(_nb(rng, mean, 0.01)[None, :], (TOTAL_SERIES,))
            found = detect_range([panel], DetectionParams(), start=panel.dates[95], end=panel.dates[-1])
            days += [panel.dates.index(f.anomaly.day) for f in found]
    assert len(days) <= 1, days


def test_a_trend_is_still_extrapolated() -> None:
    rng = np.random.default_rng(3)
    n = 120
    mean = 500 * np.exp(0.6 * np.arange(n) / 90) * WEEKDAY[[d.weekday() for d in _dates(n)]]
    values = _nb(rng, mean, 0.002)[None, :]
    s = score_day(values, n - 1, model=Model.COUNT, training_days=56, groups=np.zeros(1, dtype=np.int64))
    assert s.expected[0] == pytest.approx(mean[-1], rel=0.06)


@pytest.mark.parametrize(
    ("weeks", "lowest"),
    [
        # five weeks of decline, then a week back up: the line through all eight still leans
        # down, but the series has turned; a day back at the last weeks' level is no spike
        ((1000, 1000, 1000, 900, 800, 700, 600, 850), 0.925 * (600 + 850) / 2),
        # steady trends either way are still extrapolated past the last week
        ((600, 620, 640, 660, 680, 700, 720, 740), 748),
        ((740, 720, 700, 680, 660, 640, 620, 600), 585),
    ],
)
def test_a_count_trend_is_not_extrapolated_below_the_weeks_that_turned(weeks: tuple[int, ...], lowest: float) -> None:
    history = (np.asarray(weeks, dtype=np.float64)[:, None] * WEEKDAY[None, :])[None]
    expected = float(fit(history, multiplicative=True).expected[0])  # the next day: weekday 0
    assert lowest <= expected <= max(weeks[-1] + 20, lowest + 10)


def test_a_shift_that_lapses_for_two_days_is_not_reported_again() -> None:
    # Halved from day 90, back to normal on days 93-94, halved again after: the days after
    # the lapse belong to the same shift (off on 3 or more of the last 7 days), not a new
    # drop on day 95 and a new level shift on day 97.
    values = _seasonal(1, 120, 800, seed=6)
    values[0, 90:93] *= 0.5
    values[0, 95:] *= 0.5
    panel = _panel(values, (TOTAL_SERIES,))
    found = detect_range([panel], DetectionParams(), start=panel.dates[85], end=panel.dates[100])
    kinds = [(panel.dates.index(f.anomaly.day), f.anomaly.kind) for f in found]
    assert kinds == [(90, Kind.DROP), (91, Kind.DROP), (92, Kind.LEVEL_SHIFT)]


def test_outage_on_a_total_is_critical_and_its_children_fold_into_it() -> None:
    values = _seasonal(4, 100, [0, 300, 200, 100], seed=7)
    values[0] = values[1:].sum(axis=0)
    values[:, -1] = 0.0
    found = detect(
        [_panel(values, (TOTAL_SERIES, "page:/a", "page:/b", "page:/c"), metric="keyEvents")],
        DetectionParams(),
        day=END,
    )
    assert [(f.anomaly.series, f.anomaly.kind, f.severity) for f in found] == [
        (TOTAL_SERIES, Kind.OUTAGE, Severity.CRITICAL)
    ]
    assert [c.series for c in found[0].contributors] == ["page:/a", "page:/b", "page:/c"]
    assert sum(c.share for c in found[0].contributors) == pytest.approx(1.0)


def test_children_are_one_fdr_family_and_need_volume_and_effect() -> None:
    rng = np.random.default_rng(8)
    values = _seasonal(41, 100, np.r_[0, rng.uniform(40, 200, 40)], seed=9)
    values[1, -1] = values[1, -8] * 3 + 50  # one page triples
    values[2, -1] = 0.0  # a page with too little traffic to judge
    values[2, :-1] = np.minimum(values[2, :-1], 5)
    values[0] = values[1:].sum(axis=0)
    series = (TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(40)))
    found = detect([_panel(values, series)], DetectionParams(), day=END)
    children = [f for f in found if f.anomaly.series != TOTAL_SERIES]
    assert [(f.anomaly.series, f.anomaly.kind) for f in children] == [("landingPage:/p0", Kind.SPIKE)]
    assert children[0].anomaly.q_value is not None
    assert children[0].anomaly.p_value <= children[0].anomaly.q_value < 0.01


def test_direction_exclude_dates_and_minimum_change() -> None:
    values = _seasonal(1, 100, 2000, seed=10, alpha=0.0005)
    values[0, -1] *= 1.5
    panel = _panel(values, (TOTAL_SERIES,))
    assert [f.anomaly.direction for f in detect([panel], DetectionParams(), day=END)] == [Direction.UP]
    down_only = DetectionParams().with_metric("sessions", direction=DirectionFilter.DOWN)
    assert detect([panel], down_only, day=END) == ()
    excluded = DetectionParams().with_metric("sessions", exclude_dates=(END,))
    assert detect([panel], excluded, day=END) == ()
    big_only = DetectionParams().with_metric("sessions", min_change_pct=0.6)
    assert detect([panel], big_only, day=END) == ()


def test_ctr_is_derived_from_clicks_and_impressions_with_flags_as_gaps() -> None:
    d0, d1, d2 = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 4)
    obs = [
        Observation("s", TOTAL_SERIES, "clicks", d0, 10),
        Observation("s", TOTAL_SERIES, "impressions", d0, 200),
        Observation("s", TOTAL_SERIES, "clicks", d1, 0),
        Observation("s", TOTAL_SERIES, "impressions", d1, 0),
        Observation("s", "query:a", "clicks", d0, 4),
        Observation("s", "query:a", "impressions", d0, 50),
        Observation("s", TOTAL_SERIES, "clicks", d2, 7, PointFlag.INCOMPLETE),
        Observation("s", TOTAL_SERIES, "impressions", d2, 70, PointFlag.INCOMPLETE),
        Observation("t", TOTAL_SERIES, "clicks", d0, 3),
    ]
    panels = {(p.property, p.metric): p for p in build_panels(obs)}
    assert set(panels) == {("s", "clicks"), ("s", "impressions"), ("s", "ctr"), ("t", "clicks")}
    ctr = panels["s", "ctr"]
    assert ctr.series == (TOTAL_SERIES, "query:a")
    assert ctr.dates == (d0, d1, date(2024, 5, 3), d2)
    assert ctr.last_final == d1
    assert ctr.row(TOTAL_SERIES)[0] == pytest.approx(0.05)
    assert ctr.row("query:a")[0] == pytest.approx(0.08)
    assert all(math.isnan(x) for x in ctr.row(TOTAL_SERIES)[1:])  # 0/0, missing, flagged
    assert math.isnan(panels["s", "clicks"].row(TOTAL_SERIES)[3])


def test_clicks_and_impressions_on_different_series_derive_no_ctr() -> None:
    values = _seasonal(2, 60, [300, 5000], seed=9)
    clicks = _panel(values[:1], ("query:a",), metric="clicks")
    impressions = _panel(values[1:], ("query:b",), metric="impressions")
    derived = derive_ctr([clicks, impressions])
    assert [p.metric for p in derived] == ["clicks", "impressions"]
    assert detect_range(list(derived), DetectionParams(), start=clicks.dates[-7], end=clicks.dates[-1]) == ()


def test_a_rate_given_in_percent_is_scored_as_a_continuous_metric() -> None:
    # A file with conversionRate in percent (4.1 for 4.1%) has no share to count with: it is
    # judged like any continuous metric rather than as a proportion of its sessions (its
    # smallest change is then in its own unit: percentage points).
    sessions = _seasonal(1, 70, 3000, seed=3)
    rate = 4.0 + np.random.default_rng(3).normal(0.0, 0.1, (1, 70))
    rate[0, -1] = 2.0
    found = detect_range(
        [_panel(sessions, (TOTAL_SERIES,)), _panel(rate, (TOTAL_SERIES,), metric="conversionRate")],
        DetectionParams().with_metric("conversionRate", min_change_abs=0.5),
        start=_dates(70)[-1],
        end=_dates(70)[-1],
    )
    assert [(f.anomaly.metric, f.anomaly.kind) for f in found] == [("conversionRate", Kind.RATE_CHANGE)]
    assert found[0].anomaly.expected == pytest.approx(4.0, abs=0.1)


def test_ctr_stays_a_proportion_when_one_series_has_more_clicks_than_impressions() -> None:
    # Page-level exports can carry a day with more clicks than impressions; that row must
    # not turn the whole CTR panel into a continuous metric (whose smallest change, 10 in
    # its own unit, no CTR could reach).
    rng = np.random.default_rng(5)
    impressions = _seasonal(2, 70, [20_000, 5_000], seed=5)
    clicks = rng.binomial(impressions.astype(np.int64), 0.05).astype(np.float64)
    clicks[0, -1] = rng.binomial(int(impressions[0, -1]), 0.025)  # CTR halves, impressions steady
    clicks[1, 10] = impressions[1, 10] + 3
    series = ("page:/a", "page:/b")
    panels = derive_ctr([_panel(clicks, series, metric="clicks"), _panel(impressions, series, metric="impressions")])
    found = detect_range(list(panels), DetectionParams(), start=_dates(70)[-1], end=_dates(70)[-1])
    assert sorted((f.anomaly.series, f.anomaly.metric, f.anomaly.kind) for f in found) == [
        ("page:/a", "clicks", Kind.DROP),
        ("page:/a", "ctr", Kind.RATE_CHANGE),
    ]


def test_severity_rule() -> None:
    assert severity(Kind.OUTAGE, -1.0, direction=Direction.DOWN, top_level=True) is Severity.CRITICAL
    assert severity(Kind.OUTAGE, -1.0, direction=Direction.DOWN, top_level=False) is Severity.HIGH
    assert severity(Kind.DROP, -0.35, direction=Direction.DOWN, top_level=True) is Severity.HIGH
    assert severity(Kind.DROP, -0.2, direction=Direction.DOWN, top_level=True) is Severity.MEDIUM
    assert severity(Kind.SPIKE, 0.5, direction=Direction.UP, top_level=True) is Severity.MEDIUM
    assert severity(Kind.LEVEL_SHIFT, -0.99, direction=Direction.DOWN, top_level=False) is Severity.HIGH
    assert severity(Kind.SPIKE, 2.0, direction=Direction.UP, top_level=False) is Severity.MEDIUM
    assert severity(Kind.DROP, -0.2, direction=Direction.DOWN, top_level=False) is Severity.LOW
