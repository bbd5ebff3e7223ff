"""``walk_pair`` (the tuning preview's replay) decides exactly as two separate walks do."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from jobs.detection.engine import walk, walk_pair
from jobs.detection.params import DetectionParams, DirectionFilter
from jobs.domain import TOTAL_SERIES, MetricPanel

END = date(2024, 6, 30)


def _panels() -> list[MetricPanel]:
    rng = np.random.default_rng(11)
    days = 120
    dates = tuple(END - timedelta(days=days - 1 - i) for i in range(days))
    weekday = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[[d.weekday() for d in dates]]
    level = rng.uniform(40, 900, size=(60, 1))
    values = rng.poisson(level * weekday[None, :]).astype(np.float64)
    values[3, -20] *= 3.0  # a spike
    values[7, -30:] *= 0.5  # a level shift
    values[11, -5] *= 0.6  # a smaller drop
    values[0] = values[1:].sum(axis=0)
    series = (TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(59)))
    return [MetricPanel("p", "sessions", series, dates, values, last_final=dates[-1])]


@pytest.mark.parametrize(
    "changes",
    [
        {"sensitivity": 0.2, "min_change_pct": 0.02, "min_change_abs": 1.0, "max_p_value": 0.01},
        {"min_change_pct": 0.6},
        {"direction": DirectionFilter.DOWN},
        {"training_days": 28},  # scored differently: nothing is shared
    ],
)
def test_walk_pair_equals_two_walks(changes: dict[str, object]) -> None:
    panels = _panels()
    base = DetectionParams()
    other = replace(base, metrics={"sessions": replace(base.for_metric("sessions"), **changes)})  # type: ignore[arg-type]
    start = END - timedelta(days=55)
    first, second = walk_pair(panels, base, other, start=start, end=END)
    # repr: charts hold NaN (days without a band), and NaN != NaN would fail equal walks
    assert repr(first) == repr(walk(panels, base, start=start, end=END))
    assert repr(second) == repr(walk(panels, other, start=start, end=END))
    assert first.findings  # the injected changes are found
    assert repr(second.findings) != repr(first.findings)  # the knobs matter here: sharing scores is put to the test


def test_walk_pair_without_charts_finds_the_same() -> None:
    """The preview's replay draws no chart: same findings, no chart, no interval."""
    panels = _panels()
    base = DetectionParams()
    other = replace(base, metrics={"sessions": replace(base.for_metric("sessions"), min_change_pct=0.6)})
    start = END - timedelta(days=55)
    drawn = walk_pair(panels, base, other, start=start, end=END)
    listed = walk_pair(panels, base, other, start=start, end=END, charts=False)
    for with_chart, without in zip(drawn, listed, strict=True):
        assert with_chart.findings
        assert len(without.findings) == len(with_chart.findings)
        for a, b in zip(with_chart.findings, without.findings, strict=True):
            assert b.chart is None
            assert np.isnan(b.anomaly.lower)
            assert np.isnan(b.anomaly.upper)
            assert a.chart is not None
            assert np.isfinite(a.anomaly.upper)
            anomaly = replace(b.anomaly, lower=a.anomaly.lower, upper=a.anomaly.upper)
            assert replace(b, chart=a.chart, anomaly=anomaly) == a
