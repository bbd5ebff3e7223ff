"""A walk reuses each day's fits across the days after it: its findings must be exactly
those of :func:`detect` run on every day alone (which fits only what that day needs)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from jobs.detection import detect, finding_to_json
from jobs.detection.engine import walk, walk_pair
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams, DirectionFilter
from jobs.domain import TOTAL_SERIES, Finding, MetricPanel

END = date(2024, 12, 31)  # the walk crosses Thanksgiving and Christmas
DAYS = 150
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])
DATES = tuple(END - timedelta(days=DAYS - 1 - i) for i in range(DAYS))
CHILDREN = (
    *(f"landingPage:/p{i}" for i in range(14)),
    *(f"deviceCategory:{d}" for d in ("mobile", "desktop", "tablet")),
    *(f"country:{c}" for c in ("US", "DE", "FR", "GB", "JP")),
)
SERIES = (TOTAL_SERIES, *CHILDREN)


def _events(rng: np.random.Generator, values: np.ndarray) -> None:
    """Past bursts, level shifts up and down, spikes, drops, outages and missing days."""
    s, t = values.shape
    for i in range(1, s):
        kind = rng.integers(0, 6)
        at = int(rng.integers(60, t - 2))
        if kind == 0:
            values[i, at : at + int(rng.integers(1, 4))] *= rng.uniform(3.5, 8.0)  # a burst
        elif kind == 1:
            values[i, at:] *= rng.choice([0.5, 0.65, 1.4, 1.8])  # a level shift
        elif kind == 2:
            values[i, at] *= rng.choice([0.3, 2.5])  # one day off
        elif kind == 3:
            values[i, at : at + 2] = 0.0  # an outage
        elif kind == 4:
            values[i, rng.choice(t, size=int(t * 0.08), replace=False)] = np.nan  # gaps
    values[rng.integers(1, s), -40:-33] = np.nan  # a missing week
    values[:, 100] = np.nan  # a day missing everywhere


def _counts(seed: int, levels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weekday = WEEKDAY[[d.weekday() for d in DATES]]
    mean = levels[:, None] * weekday[None, :]
    values: np.ndarray = rng.poisson(rng.gamma(1 / 0.02, mean * 0.02)).astype(np.float64)
    _events(rng, values)
    values[0] = np.nansum(values[1:], axis=0)
    return values


def _panel(metric: str, values: np.ndarray, prop: str = "p") -> MetricPanel:
    return MetricPanel(prop, metric, SERIES, DATES, values, last_final=DATES[-1])


def _panels(seed: int) -> list[MetricPanel]:
    rng = np.random.default_rng(seed)
    levels = rng.gamma(1.5, 300.0, size=len(SERIES)).round() + 5.0
    sessions = _counts(seed, levels)
    events = _counts(seed + 1, levels * 0.05)
    impressions = _counts(seed + 2, levels * 20.0)
    shown = np.nan_to_num(impressions).astype(np.int64)
    rate = np.clip(rng.beta(4, 60, size=(len(SERIES), 1)), 0.005, 0.5) * np.ones((1, DAYS))
    rate[2:6, -20:] *= 0.5  # CTR halves on a few pages, impressions steady
    clicks = rng.binomial(shown, rate).astype(np.float64)
    clicks[np.isnan(impressions)] = np.nan
    clicks[0] = np.nansum(clicks[1:], axis=0)
    position = 8.0 + rng.normal(0.0, 0.4, size=(len(SERIES), DAYS)) + rng.uniform(0, 20, size=(len(SERIES), 1))
    position[3:5, -12:] += 6.0  # a ranking loss
    position[rng.random(position.shape) < 0.03] = np.nan
    rate_pct = 3.0 + rng.normal(0.0, 0.15, size=(len(SERIES), DAYS))  # a rate in percent: continuous
    rate_pct[7, -5:] = 1.5
    return [
        *derive_ctr(
            [
                _panel("sessions", sessions),
                _panel("keyEvents", events),
                _panel("impressions", impressions),
                _panel("clicks", clicks),
                _panel("position", position),
                _panel("conversionRate", rate_pct),
            ]
        ),
        _panel("sessions", _counts(seed + 3, levels[::-1].copy()), prop="q"),
    ]


def _params(**changes: object) -> DetectionParams:
    excluded = (DATES[-20], DATES[-19], DATES[-70])
    base = DetectionParams(countries={"p": "US"}).with_metric("sessions", exclude_dates=excluded)
    return base.with_metric("conversionRate", min_change_abs=0.5).with_metric("keyEvents", **changes)


def _json(found: tuple[Finding, ...] | list[Finding]) -> list[object]:
    # repr: a chart's missing days are NaN, which never equals itself
    return [(finding_to_json(f), repr(f.chart)) for f in found]


def _day_by_day(panels: list[MetricPanel], params: DetectionParams, start: date) -> list[object]:
    out: list[object] = []
    day = start
    while day <= END:
        out.extend(_json(detect(panels, params, day=day)))
        day += timedelta(days=1)
    return out


@pytest.mark.parametrize(("seed", "days"), [(1, 42), (2, 42), (3, 70)])  # 70: past a chart's reach
def test_a_walk_finds_exactly_what_each_day_detected_alone_finds(seed: int, days: int) -> None:
    panels = _panels(seed)
    start = END - timedelta(days=days - 1)
    params = _params()
    walked = walk(panels, params, start=start, end=END)
    alone = _day_by_day(panels, params, start)
    kinds = {f.anomaly.kind for f in walked.findings}
    metrics = {f.anomaly.metric for f in walked.findings}
    # the panels exercise it: many findings, of several kinds and metrics
    assert len(walked.findings) >= 10
    assert len(kinds) >= 3
    assert len(metrics) >= 4
    assert _json(walked.findings) == alone


def test_a_tuning_preview_walks_each_setting_as_it_would_alone() -> None:
    panels = _panels(4)
    start = END - timedelta(days=27)
    first = _params()
    second = _params(sensitivity=0.1, min_change_pct=0.05, direction=DirectionFilter.DOWN)
    one, two = walk_pair(panels, first, second, start=start, end=END)
    assert one.findings != two.findings
    assert _json(one.findings) == _day_by_day(panels, first, start)
    assert _json(two.findings) == _day_by_day(panels, second, start)
    assert (two.series, two.unscored) == (walk(panels, second, start=start, end=END).series, one.unscored)
