"""A second, deliberately simple generator: flat, independent series (the ``flat`` set of
``make eval``).

It shares nothing with :mod:`benchmarks.evaluation.generator` but the output types, so that the
engine is also judged on data shaped by other assumptions: no hierarchy (every series is
its own site, ``site0042/total``, so no finding is excused as a consequence of another
series' event), one metric per series (sessions, clicks, impressions or conversions), a
weekday profile with a quieter weekend, a log-linear trend, negative binomial noise, and no
holidays, shocks or gaps. Anomalies are drawn at fixed magnitudes, not filtered by how
detectable they are: spikes x1.8-3, drops x0.3-0.6, level shifts (x1.5-2 up or x0.4-0.65
down, persisting) and outages (x0-0.03 for 1-3 days), so some small ones on noisy series
are beyond any detector.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from benchmarks.evaluation.generator import Dataset, Label

__all__ = ["FLAT_END", "generate_flat"]

FLAT_END = date(2026, 9, 30)
_METRICS = ("sessions", "clicks", "impressions", "conversions")
_KINDS = ("spike", "drop", "level_shift", "outage")
_KIND_P = (0.35, 0.35, 0.2, 0.1)


def _factor(rng: np.random.Generator, kind: str) -> float:
    if kind == "spike":
        return float(rng.uniform(1.8, 3.0))
    if kind == "drop":
        return float(rng.uniform(0.3, 0.6))
    if kind == "level_shift":
        return float(rng.uniform(1.5, 2.0) if rng.uniform() < 0.4 else rng.uniform(0.4, 0.65))
    return float(rng.uniform(0.0, 0.03))


def generate_flat(seed: int, *, series: int = 400, days: int = 120, eval_days: int = 60) -> Dataset:
    """``series`` independent series over ``days`` days; anomalies in the last ``eval_days``."""
    rng = np.random.default_rng([seed, 7301])
    dates = tuple(FLAT_END - timedelta(days=days - 1 - i) for i in range(days))
    first = days - eval_days
    out = Dataset(dates=dates, eval_start=dates[first])
    weekday = np.array([d.weekday() for d in dates])
    for i in range(series):
        name, metric = f"site{i:04d}/total", _METRICS[i % len(_METRICS)]
        level = float(np.exp(rng.uniform(np.log(50.0), np.log(20_000.0))))
        profile = np.ones(7)
        profile[5:] = rng.uniform(0.55, 0.8)
        profile[:5] *= np.exp(rng.normal(0.0, 0.04, 5))
        mean = level * profile[weekday] * np.exp(rng.uniform(-0.3, 0.3) * np.arange(days) / days)
        alpha = float(np.exp(rng.uniform(np.log(0.002), np.log(0.02))))
        factor = np.ones(days)
        taken: list[tuple[int, int]] = []  # [start, end) of placed events, a week apart
        for _ in range(int(rng.poisson(0.012 * eval_days))):
            kind = str(rng.choice(_KINDS, p=_KIND_P))
            start = int(rng.integers(first, days - 1))
            length = days - start if kind == "level_shift" else int(rng.integers(1, 4)) if kind == "outage" else 1
            if any(start < b + 7 and start + length + 7 > a for a, b in taken) or (
                kind == "level_shift" and any(a > start for a, _ in taken)
            ):
                continue
            f = _factor(rng, kind)
            factor[start : start + length] *= f
            taken.append((start, start + length))
            last = min(start + 2, days - 1) if kind == "level_shift" else start + length - 1
            out.labels.append(Label(name, metric, kind, dates[start], dates[last], round(f, 4)))
        lam = rng.gamma(1.0 / alpha, mean * factor * alpha)
        out.values[name, metric] = rng.poisson(lam).astype(np.float64)
    out.labels.sort(key=lambda lab: (lab.start, lab.series, lab.metric))
    return out
