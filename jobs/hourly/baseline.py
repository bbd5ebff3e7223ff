"""Same-hour-of-week expectations and count noise, vectorised over series and hours.

Expectation of hour ``t``: the same hour of the week ``1..weeks`` weeks back (Tuesday
10:00 against the last Tuesdays at 10:00), their trimmed mean (the highest and lowest
dropped from five weeks on, the median below that, so one bad week moves nothing), times
the series' level over the reference week (the 168 hours before the first scored hour,
against their own expectations; bounded to [2/3, 3/2]: growth, not incidents).

Noise, count-aware: ``var = mu + alpha mu^2`` (the Poisson-log-normal of
:mod:`jobs.detection.noise`). ``alpha`` comes from the reference week's residuals against
their expectations, ``u = ((x - mu)^2 - mu) / mu^2`` winsorised at each series' 95th
percentile (past incidents do not widen it), so it already holds the baseline's own error;
it is then shrunk towards the median of the series' dimension by empirical Bayes
(:func:`jobs.detection.dispersion.shrink`), so a short or quiet series borrows from its
siblings. For an hour whose expectation rests on ``n`` weeks the predictive excess is
``a (1 + c/n) + c / (n mu)`` with ``c`` = :data:`MEAN_ERROR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jobs.detection.baseline import nanmedian
from jobs.detection.dispersion import pooled, shrink
from jobs.domain import FloatArray
from jobs.hourly.domain import WEEK_HOURS
from jobs.hourly.params import HourlyParams

__all__ = ["MEAN_ERROR", "Expectation", "expectations", "groups_of", "pooled_excess"]

IntArray = npt.NDArray[np.int64]

#: Variance of a trimmed mean of ``n`` weeks, in units of one hour's variance, times ``n``.
MEAN_ERROR = 1.2
#: Relative excess variance assumed where neither a series nor its group tells (web counts
#: typically vary 20-25% hour to hour beyond Poisson).
DEFAULT_EXCESS = 0.05
_LEVEL_BOUNDS = (2.0 / 3.0, 1.5)
_WINSOR_Q = 0.95


@dataclass(frozen=True)
class Expectation:
    """Per series and hour of ``[lo, hi)``: expected value (NaN: too little history),
    predictive relative excess variance ``alpha``, and the weeks behind each expectation."""

    lo: int
    mu: FloatArray
    alpha: FloatArray
    weeks: IntArray
    #: Per series, its relative excess variance (``alpha`` less the baseline's own error).
    excess: FloatArray | None = None
    #: The share of ``excess`` the hours of one day have in common (a quiet day makes all
    #: its hours quiet together); the rest is each hour's own. 1 when nothing tells.
    shared: float = 1.0

    def independent(self) -> FloatArray:
        """Per series, the part of each hour's ``alpha`` no other hour shares (the
        baseline's error is shared: every hour's expectation rests on the same past days)."""
        if self.excess is None:
            return np.zeros(self.mu.shape[0])
        return np.asarray((1.0 - self.shared) * self.excess)

    def at(self, index: int) -> tuple[FloatArray, FloatArray]:
        j = index - self.lo
        return self.mu[:, j], self.alpha[:, j]


def groups_of(series: tuple[str, ...]) -> IntArray:
    """A group number per series: its dimension (``landingPage:/x`` -> ``landingPage``), totals apart."""
    names: dict[str, int] = {}
    return np.fromiter(
        (names.setdefault(s.rpartition(":")[0] if ":" in s else s, len(names)) for s in series),
        dtype=np.int64,
        count=len(series),
    )


def _week_back(values: FloatArray, lo: int, hi: int, k: int) -> FloatArray:
    """Hours ``[lo, hi)`` ``k`` weeks back (NaN before the panel starts): a slice, not a gather."""
    a, b = lo - k * WEEK_HOURS, hi - k * WEEK_HOURS
    if a >= 0:
        return values[:, a:b]
    out = np.full((values.shape[0], hi - lo), np.nan)
    if b > 0:
        out[:, -a:] = values[:, :b]
    return out


def _trimmed(values: FloatArray, lo: int, hi: int, weeks: int, min_weeks: int) -> tuple[FloatArray, IntArray]:
    """Per series and hour of ``[lo, hi)``: the trimmed mean of its same hour 1..``weeks``
    weeks back (the highest and lowest dropped; the median below five weeks) and how many
    weeks had a value. Sums, counts, minima and maxima run week by week over contiguous
    slices; only hours with fewer than five weeks are sorted (for their median)."""
    shape = (values.shape[0], hi - lo)
    total, n = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    low, high = np.full(shape, np.inf), np.full(shape, -np.inf)
    for k in range(1, weeks + 1):
        past = _week_back(values, lo, hi, k)
        seen = ~np.isnan(past)
        n += seen
        total += np.where(seen, past, 0.0)
        np.fmin(low, past, out=low)  # fmin/fmax skip NaN
        np.fmax(high, past, out=high)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (total - low - high) / (n - 2)
    few = (n < 5) & (n >= max(min_weeks, 1))
    if few.any():
        rows, cols = np.nonzero(few)
        back = (lo + cols)[:, None] - WEEK_HOURS * np.arange(1, weeks + 1)[None, :]
        history = values[rows[:, None], np.clip(back, 0, None)]  # (hours with few weeks, weeks)
        history[back < 0] = np.nan
        mu[rows, cols] = nanmedian(history, axis=-1)
    return np.where(n >= max(min_weeks, 1), mu, np.nan), n


def expectations(
    values: FloatArray, lo: int, hi: int, first: int, params: HourlyParams, *, groups: IntArray
) -> Expectation:
    """Expectations and noise for hours ``[lo, hi)`` of ``values`` (series x hours); the
    reference week is the 168 hours before ``first``. The returned range starts at
    ``min(lo, first - 168)``; ``groups`` numbers each series' dimension (:func:`groups_of`)."""
    ref_lo = max(0, first - WEEK_HOURS)
    start = min(lo, ref_lo)
    raw, weeks = _trimmed(values, start, hi, params.weeks, params.min_weeks)
    ref = slice(ref_lo - start, first - start)
    x_ref, mu_ref = values[:, ref_lo:first], raw[:, ref]
    both = ~np.isnan(x_ref) & ~np.isnan(mu_ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(both, x_ref, 0.0).sum(axis=1) / np.where(both, mu_ref, 0.0).sum(axis=1)
    level = np.clip(np.nan_to_num(level, nan=1.0, posinf=1.0), *_LEVEL_BOUNDS)
    mu = raw * level[:, None]
    own, sampling = _reference_excess(x_ref, mu[:, ref], weeks[:, ref])
    excess = pooled_excess(own, sampling, groups)
    shared = shared_share(x_ref, mu[:, ref], ref_lo)
    return Expectation(lo=start, mu=mu, alpha=_predictive(excess, mu, weeks), weeks=weeks, excess=excess, shared=shared)


def shared_share(x: FloatArray, mu: FloatArray, first: int) -> float:
    """The share ``rho`` of the excess variance that a day's hours have in common, over all
    series of the reference week (``x``, ``mu``: series x hours from hour ``first``).

    Per series, the mean relative excess of its hours is ``a_s + a_i`` and that of its
    days (24 hours summed) ``a_s + q a_i`` with ``q = sum mu^2 / (sum mu)^2``; so
    ``rho = a_s / (a_s + a_i)`` follows from the two. The days' excess is scaled by 7/6
    since the level was fitted on the same week. The median over series with enough
    counts, in [0, 1]; 1 (every hour of a window moves together) when no series tells."""
    day_of = (first + np.arange(x.shape[1])) // 24
    days = np.unique(day_of)
    usable = np.isfinite(x) & np.isfinite(mu) & (mu >= 1.0)
    xs, ms = np.where(usable, x, 0.0), np.where(usable, mu, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = np.where(usable, ((xs - ms) ** 2 - ms) / np.where(usable, ms, 1.0) ** 2, 0.0)
        a_total = hourly.sum(axis=1) / usable.sum(axis=1)
        starts = np.searchsorted(day_of, days)
        big_x, big_m = np.add.reduceat(xs, starts, axis=1), np.add.reduceat(ms, starts, axis=1)
        q = np.add.reduceat(ms**2, starts, axis=1) / big_m**2
        whole = np.add.reduceat(usable, starts, axis=1) == np.bincount(day_of - day_of[0])[None, :]
        ok = whole & (big_m >= 24.0)
        day_u = np.where(ok, ((big_x - big_m) ** 2 - big_m) / np.where(ok, big_m, 1.0) ** 2, 0.0)
        n_days = ok.sum(axis=1)
        a_day = day_u.sum(axis=1) / n_days * 7.0 / 6.0
        q_mean = np.where(ok, q, 0.0).sum(axis=1) / n_days
        rho = (a_day - q_mean * a_total) / ((1.0 - q_mean) * a_total)
    telling = (n_days >= 5) & (a_total > 0) & np.isfinite(rho)
    if not telling.any():
        return 1.0
    return float(np.clip(np.median(rho[telling]), 0.0, 1.0))


def _reference_excess(x: FloatArray, mu: FloatArray, weeks: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per series: the relative excess variance of the reference week net of the baseline's
    own error, and its sampling variance (NaN: nothing to estimate it from)."""
    usable = ~np.isnan(x) & ~np.isnan(mu) & (mu >= 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(usable, ((x - mu) ** 2 - mu) / mu**2, np.nan)
        error = np.where(usable, MEAN_ERROR / (np.maximum(weeks, 1) * mu), np.nan)
    n = usable.sum(axis=1)
    ordered = np.sort(u, axis=1)
    cap_at = np.clip(np.floor(_WINSOR_Q * (n - 1)).astype(np.int64), 0, None)
    cap = np.take_along_axis(ordered, cap_at[:, None], 1)[:, 0]
    clipped = np.minimum(u, cap[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(clipped, axis=1) / np.maximum(n, 1), np.nan)
        spread = np.where(n > 1, np.nansum((clipped - mean[:, None]) ** 2, axis=1) / np.maximum(n - 1, 1), np.nan)
        typical_weeks = np.where(n > 0, np.nansum(np.where(usable, weeks, 0), axis=1) / np.maximum(n, 1), 1.0)
        own = (mean - np.nansum(error, axis=1) / np.maximum(n, 1)) / (1.0 + MEAN_ERROR / np.maximum(typical_weeks, 1))
    return np.where(n >= 24, np.maximum(own, 0.0), np.nan), np.where(n >= 24, spread / np.maximum(n, 1), np.nan)


def _predictive(own: FloatArray, mu: FloatArray, weeks: IntArray) -> FloatArray:
    n = np.maximum(weeks, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(own[:, None] * (1.0 + MEAN_ERROR / n) + MEAN_ERROR / (n * np.maximum(mu, 1e-9)))


def pooled_excess(own: FloatArray, sampling: FloatArray, groups: IntArray) -> FloatArray:
    """Each series' excess shrunk towards its group's (empirical Bayes)."""
    informative = np.isfinite(own) & np.isfinite(sampling)
    pool = pooled(own, np.nan_to_num(sampling, nan=np.inf), groups, informative)
    estimate, _ = shrink(own, sampling, pool)
    known = np.isfinite(own) | np.isfinite(pool.center)
    return np.where(known, np.maximum(estimate, 0.0), DEFAULT_EXCESS)
