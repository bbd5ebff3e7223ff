"""Reference detectors the evaluation compares barometer with, walk-forward like it.

- :func:`naive_zscore`: the trailing 14 days' mean and standard deviation; flag ``|z| > 3``.
- :func:`weekday_robust_zscore`: the same weekday of the previous 8 weeks; median and
  1.4826 x MAD; flag ``|z| > 3.5``.

Both need at least half of their window present; a zero spread is floored at one unit
for counts (and 1% of the level for other metrics) so that a series of constant zeros
does not flag every blip. Vectorised over series: one numpy pass per day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

import numpy as np

from benchmarks.evaluation.scoring import Flag
from jobs.detection.stats import nanmedian
from jobs.domain import COUNT_METRICS, FloatArray, MetricPanel

__all__ = ["BASELINES", "naive_zscore", "weekday_robust_zscore"]

Baseline = Callable[[MetricPanel, int], tuple[FloatArray, FloatArray]]


def _floor(metric: str, level: FloatArray) -> FloatArray:
    if metric in COUNT_METRICS:
        return np.ones_like(level)
    return np.asarray(0.01 * np.abs(np.nan_to_num(level)) + 1e-9, dtype=np.float64)


def _naive(panel: MetricPanel, col: int) -> tuple[FloatArray, FloatArray]:
    window = panel.values[:, max(0, col - 14) : col]
    n = np.sum(~np.isnan(window), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(window, axis=1) / np.maximum(n, 1)
        var = np.nansum((window - mean[:, None]) ** 2, axis=1) / np.maximum(n - 1, 1)
    sd = np.maximum(np.sqrt(var), _floor(panel.metric, mean))
    z = (panel.values[:, col] - mean) / sd
    return np.where(n >= 7, z, np.nan), np.full(z.shape, 3.0)


def _weekday(panel: MetricPanel, col: int) -> tuple[FloatArray, FloatArray]:
    cols = [col - 7 * k for k in range(1, 9) if col - 7 * k >= 0]
    window = panel.values[:, cols] if cols else np.full((panel.values.shape[0], 1), np.nan)
    n = np.sum(~np.isnan(window), axis=1)
    median = nanmedian(window, axis=1)
    mad = nanmedian(np.abs(window - median[:, None]), axis=1) * 1.4826
    sd = np.maximum(np.nan_to_num(mad), _floor(panel.metric, median))
    z = (panel.values[:, col] - median) / sd
    return np.where(n >= 4, z, np.nan), np.full(z.shape, 3.5)


def _flags(panels: Sequence[MetricPanel], start: date, end: date, rule: Baseline) -> Iterator[Flag]:
    for panel in panels:
        for col, day in enumerate(panel.dates):
            if not start <= day <= end:
                continue
            z, threshold = rule(panel, col)
            with np.errstate(invalid="ignore"):
                hits = np.flatnonzero(np.abs(z) > threshold)
            for i in hits.tolist():
                yield Flag(panel.series[i], panel.metric, day)


def naive_zscore(panels: Sequence[MetricPanel], *, start: date, end: date) -> list[Flag]:
    """Flags of the trailing 14-day 3-sigma z-score on every day in ``start..end``."""
    return list(_flags(panels, start, end, _naive))


def weekday_robust_zscore(panels: Sequence[MetricPanel], *, start: date, end: date) -> list[Flag]:
    """Flags of the same-weekday (8 weeks) median/MAD z-score above 3.5 in ``start..end``."""
    return list(_flags(panels, start, end, _weekday))


BASELINES: dict[str, Callable[..., list[Flag]]] = {
    "naive 14-day z>3": naive_zscore,
    "same-weekday robust z>3.5": weekday_robust_zscore,
}
