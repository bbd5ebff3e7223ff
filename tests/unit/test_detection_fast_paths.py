"""The fit takes shorter ways through series without missing points (and threads blocks of
series): a series' fit must not depend on which other series share the panel, on whether
any of them has a gap, or on how the panel is cut into blocks."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from jobs.detection import detect, finding_to_json
from jobs.detection.baseline import nanmedian
from jobs.detection.engine import walk
from jobs.detection.params import DetectionParams
from jobs.detection.stats import DayFit, Model, fit_day
from jobs.domain import TOTAL_SERIES, MetricPanel


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, NaN where NaN (and the same sign of zero)."""
    return (
        a.shape == b.shape
        and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
        and bool(np.all(np.signbit(a) == np.signbit(b)))
    )


def test_nanmedian_of_rows_with_and_without_nan_is_each_rows_own_median() -> None:
    rng = np.random.default_rng(1)
    a = rng.gamma(2.0, 40.0, size=(300, 9, 8))
    a[rng.random(a.shape) < 0.04] = np.nan
    a[5, 2] = np.nan  # a slice all NaN
    a[7] = np.inf  # infinities sort before NaN
    for axis in (0, 1, 2):
        got = nanmedian(a, axis=axis)
        moved = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis])
        one_by_one = np.array([nanmedian(row[None, :], axis=1)[0] for row in moved]).reshape(got.shape)
        assert _same(got, one_by_one)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's warns on an all-NaN slice
            assert _same(got, np.nanmedian(a, axis=axis))


def _counts(seed: int, n: int, days: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weekday = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[np.arange(days) % 7]
    level = rng.gamma(1.5, 30.0, size=(n, 1))
    values = rng.poisson(rng.gamma(50.0, level * weekday / 50.0)).astype(np.float64)
    holed = rng.choice(n, size=n // 3, replace=False)
    for i in holed:  # gaps, outages, bursts and steps in a third of the series
        values[i, rng.choice(days, size=int(rng.integers(1, 12)), replace=False)] = np.nan
        at = int(rng.integers(0, days - 3))
        values[i, at : at + 2] *= rng.choice([0.0, 5.0])
        values[i, at:] *= rng.choice([1.0, 0.6, 1.7])
    values[:20] = np.round(values[:20] / 30.0)  # small counts: zeros in the weekly levels
    return np.asarray(values, dtype=np.float64)


def _assert_same_fit(a: DayFit, b: DayFit) -> None:
    for name in ("expected", "season", "own", "sampling", "informative"):
        assert _same(np.asarray(getattr(a, name), dtype=np.float64), np.asarray(getattr(b, name), dtype=np.float64)), (
            name
        )


@pytest.mark.parametrize(("training_days", "series"), [(56, 600), (28, 600), (56, 9000)])
def test_a_series_fit_does_not_depend_on_the_other_series(training_days: int, series: int) -> None:
    """9,000 series are fitted in blocks on threads; their subsets are cut otherwise."""
    values = _counts(3, series, 70)
    col = values.shape[1] - 1
    whole = fit_day(values, col, model=Model.COUNT, training_days=training_days)
    window = values[:, col - whole.weeks * 7 : col]
    holed = np.flatnonzero(np.isnan(window).any(axis=1))
    clean = np.flatnonzero(~np.isnan(window).any(axis=1))
    assert holed.size
    assert clean.size
    alone = [fit_day(values[rows], col, model=Model.COUNT, training_days=training_days) for rows in (clean, holed)]
    order = np.argsort(np.concatenate([clean, holed]))
    _assert_same_fit(whole, DayFit.stack(alone).take(order))
    for row in (int(clean[0]), int(holed[0]), 0, 19):
        _assert_same_fit(
            whole.take(np.array([row])), fit_day(values[[row]], col, model=Model.COUNT, training_days=training_days)
        )


def test_a_walk_fitting_each_next_day_ahead_finds_what_each_day_alone_finds() -> None:
    """A walk fits the next day on the pool's threads while it decides the day before."""
    values = _counts(5, 5000, 70)
    values[0] = np.nansum(values[1:], axis=0)
    values[7:12, -3] *= 6.0  # something to find
    values[30:33, -2] = 0.0
    end = date(2026, 3, 31)
    dates = tuple(end - timedelta(days=values.shape[1] - 1 - i) for i in range(values.shape[1]))
    names = (TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(values.shape[0] - 1)))
    panel = MetricPanel("p", "sessions", names, dates, values, last_final=end)
    params = DetectionParams()
    walked = walk([panel], params, start=end - timedelta(days=3), end=end).findings
    alone = [f for k in range(3, -1, -1) for f in detect([panel], params, day=end - timedelta(days=k))]
    assert walked
    assert [finding_to_json(f) for f in walked] == [finding_to_json(f) for f in alone]


_ROOT = Path(__file__).resolve().parents[2]
_DIGEST = """
import hashlib, sys
from datetime import date, timedelta
import numpy as np
from jobs.detection import finding_to_json, threads
from jobs.detection.engine import walk
from jobs.detection.params import DetectionParams
from jobs.detection.stats import Model, fit_day
from jobs.domain import TOTAL_SERIES, MetricPanel
from tests.unit.test_detection_fast_paths import _counts

values = _counts(7, 6000, 70)
values[0] = np.nansum(values[1:], axis=0)
values[40:44, -2] *= 6.0
digest = hashlib.sha256()
for col in (60, 65, 69):
    day = fit_day(values, col, model=Model.COUNT, training_days=56)
    for name in ("expected", "season", "own", "sampling", "informative"):
        digest.update(np.ascontiguousarray(getattr(day, name)).tobytes())
end = date(2026, 3, 31)
dates = tuple(end - timedelta(days=values.shape[1] - 1 - i) for i in range(values.shape[1]))
names = (TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(values.shape[0] - 1)))
panel = MetricPanel("p", "sessions", names, dates, values, last_final=end)
found = walk([panel], DetectionParams(), start=end - timedelta(days=2), end=end).findings
digest.update(repr([finding_to_json(f) for f in found]).encode())
print(threads.count, len(found), digest.hexdigest())
"""


def test_one_thread_and_two_give_the_same_fits_and_findings() -> None:
    """``BAROMETER_DETECT_THREADS`` set by hand is used whatever the machine's load."""
    out = {}
    for count in ("1", "2"):
        env = {**os.environ, "BAROMETER_DETECT_THREADS": count}
        done = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, cwd=_ROOT, capture_output=True, text=True, check=True
        )
        out[count] = done.stdout.split()
    assert out["1"][0] == "1"
    assert out["2"][0] == "2"
    assert int(out["1"][1]) > 0
    assert out["1"][1:] == out["2"][1:]
