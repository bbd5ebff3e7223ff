"""Feedback that learns: false alarms raise a series' bar (bounded), confirmations lower it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from jobs.detection import detect
from jobs.detection.learning import Verdict, learn, with_learned
from jobs.detection.params import DetectionParams
from jobs.domain import Label, MetricPanel

DAY = date(2024, 6, 30)


def _v(n: int, label: Label, p: float, series: str = "channel:Email") -> Verdict:
    return Verdict(DAY - timedelta(days=30 - n), series, "sessions", label, p)


def test_false_alarms_raise_the_bar_within_bounds_and_confirmations_lower_it() -> None:
    def base(metric: str) -> float:
        return 3e-5

    one = learn([_v(1, Label.FALSE_ALARM, 2e-6)], default=base)
    assert one["sessions", "channel:Email"].max_p_value == pytest.approx(2e-7)
    # a second, clearer false alarm raises it again, but never past the floor (3e-5 x 1e-3)
    two = learn([_v(1, Label.FALSE_ALARM, 2e-6), _v(2, Label.FALSE_ALARM, 1e-12)], default=base)
    assert two["sessions", "channel:Email"].max_p_value == pytest.approx(3e-8)
    # a confirmed finding moves it one step back; enough of them, back to the default (and gone)
    back = learn([_v(1, Label.FALSE_ALARM, 2e-6), _v(3, Label.CONFIRMED, 1e-9)], default=base)
    assert back["sessions", "channel:Email"].max_p_value == pytest.approx(2e-6)
    confirmed = [_v(n, Label.CONFIRMED, 1e-9) for n in (3, 4, 5)]
    assert learn([_v(1, Label.FALSE_ALARM, 2e-6), *confirmed], default=base) == {}
    # "expected" is a real change: it moves nothing
    assert learn([_v(1, Label.EXPECTED, 2e-6)], default=base) == {}
    assert "max_p_value 3e-05 -> 2e-07 (1 false alarm(s), 0 confirmed)" in one["sessions", "channel:Email"].line()


def test_a_series_labelled_a_false_alarm_no_longer_fires_on_a_like_change() -> None:
    rng = np.random.default_rng(5)
    dates = tuple(DAY - timedelta(days=119 - i) for i in range(120))
    values = rng.poisson(rng.gamma(100.0, 10.0, (2, 120))).astype(np.float64)
    values[:, -1] *= 1.75  # the same monthly newsletter bump on both channels
    panel = MetricPanel("shop", "sessions", ("channel:Email", "channel:Social"), dates, values, last_final=DAY)
    params = DetectionParams()
    before = detect([panel], params, day=DAY)
    assert sorted(f.anomaly.series for f in before) == ["channel:Email", "channel:Social"]
    email = next(f for f in before if f.anomaly.series == "channel:Email")
    taught = learn(
        [Verdict(DAY - timedelta(days=28), "channel:Email", "sessions", Label.FALSE_ALARM, email.anomaly.p_value)],
        default=lambda m: params.for_metric(m).max_p_value,
    )
    after = detect([panel], with_learned(params, "shop", taught), day=DAY)
    assert [f.anomaly.series for f in after] == ["channel:Social"]
    # another property's labels change nothing here
    assert detect([panel], with_learned(params, "other", taught), day=DAY) == before
