"""Per-day baselines and noise models, vectorised over every series of a panel.

:func:`score_day` answers, for one column ``col`` of a ``(series, days)`` matrix: what
was expected from the columns before it, how wide is the 95% predictive interval, and
how surprising is the observed value (one-sided tail probabilities both ways).

Baseline: the last ``training_days`` (whole weeks) are cut into weeks; each series gets
weekday factors (median over weeks of the day's ratio to its week's level, so one bad week
cannot move them) and a weekly level with a Theil-Sen trend, extrapolated to ``col``.
Counts and rates are multiplicative (``level x factor``), continuous metrics additive.

Noise: counts are negative binomial, ``var = mu + alpha mu^2``; ``alpha`` comes from a
robust (median) moment of the in-sample residuals over all weeks, shrunk towards the
median ``alpha`` of the series' group (a property's dimension), so 56 points per series
and many series inform it together. Rates (CTR) are binomial with the day's denominator
plus a pooled extra-binomial variance. Continuous metrics use a pooled robust scale and a
t distribution. Predictive variance adds the baseline's own estimation error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from jobs.domain import FloatArray

__all__ = ["DayScores", "Model", "nanmedian", "score_day"]

IntArray = npt.NDArray[np.int64]

#: Median of a chi-square with one degree of freedom: median(r^2) / this estimates var.
_CHI2_MEDIAN = 0.4549364
#: Weight, in days of evidence, of the group's pooled dispersion against a series' own.
_POOL_WEIGHT = 28.0
#: Relative distance from the trend line at which two whole weeks mean a new level.
_REBASE = 0.10
#: Fewest whole weeks of history a baseline needs.
MIN_WEEKS = 3
#: Calibrates the in-sample residual scale (medians of fitted residuals understate spread); measured
#: by simulation so that about 5% of anomaly-free p-values fall below 0.05.
_DOF_SCALE = 1.25


class Model(enum.Enum):
    COUNT = "count"
    RATE = "rate"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class DayScores:
    """Scores of every series on one day. NaN ``expected``: not enough history to say."""

    observed: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    #: P(value <= observed) under the baseline (mid-p for counts): small means "too low".
    p_low: FloatArray
    #: P(value >= observed): small means "too high".
    p_high: FloatArray
    #: The pooled dispersion each series was shrunk towards (reused for chart bands).
    pool: FloatArray


def nanmedian(a: FloatArray, axis: int = -1) -> FloatArray:
    """Median along ``axis`` ignoring NaN (NaN where a slice is all NaN), without warnings."""
    moved = np.moveaxis(a, axis, -1)
    ordered = np.sort(moved, axis=-1)  # NaN sorts last
    n = np.sum(~np.isnan(moved), axis=-1)
    lo = np.clip((n - 1) // 2, 0, None)[..., None]
    hi = np.clip(n // 2, 0, None)[..., None]
    mid = 0.5 * (np.take_along_axis(ordered, lo, -1) + np.take_along_axis(ordered, hi, -1))[..., 0]
    return np.where(n > 0, mid, np.nan)


def _nanmean(a: FloatArray, axis: int, min_count: int = 1) -> FloatArray:
    n = np.sum(~np.isnan(a), axis=axis)
    total = np.nansum(a, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= min_count, total / np.maximum(n, 1), np.nan)


def _level_at(levels: FloatArray, centers: FloatArray, at: float) -> FloatArray:
    """Each series' weekly level (S, K) at day ``at``: a robust (Theil-Sen) line, unless the
    last two weeks both sit more than :data:`_REBASE` off that line on the same side; then the
    series has moved to a new level (an ongoing shift) and their mean is the level."""
    k = levels.shape[1]
    i, j = np.triu_indices(k, 1)
    slopes = nanmedian((levels[:, j] - levels[:, i]) / (centers[j] - centers[i]), axis=1)
    slopes = np.where(np.sum(~np.isnan(levels), axis=1) >= MIN_WEEKS, slopes, 0.0)
    slopes = np.nan_to_num(slopes)
    intercepts = nanmedian(levels - slopes[:, None] * centers[None, :], axis=1)
    line = intercepts[:, None] + slopes[:, None] * centers[None, -2:]
    with np.errstate(invalid="ignore"):
        off = (levels[:, -2:] - line) / np.abs(line)
        moved = ((off > _REBASE).all(axis=1) | (off < -_REBASE).all(axis=1)) & np.isfinite(off).all(axis=1)
    return np.where(moved, levels[:, -2:].mean(axis=1), intercepts + slopes * at)


@dataclass(frozen=True)
class _Fit:
    expected: FloatArray  # (S,)
    fitted: FloatArray  # (S, K, 7) in-sample
    history: FloatArray  # (S, K, 7)
    n: FloatArray  # valid history points per series
    weeks: int


@dataclass(frozen=True)
class _Day:
    """What a noise model needs besides the fit."""

    observed: FloatArray
    groups: IntArray
    dof: float
    inflation: float
    fixed_pool: FloatArray | None


def _fit(history: FloatArray, *, multiplicative: bool) -> _Fit:
    k = history.shape[1]
    centers = np.arange(k, dtype=np.float64) * 7.0 + 3.0
    level = _nanmean(history, axis=2, min_count=4)
    with np.errstate(invalid="ignore", divide="ignore"):
        if multiplicative:
            factor = nanmedian(history / level[:, :, None], axis=1)
            factor = np.where(np.isfinite(factor), factor, 1.0)
            factor = factor / np.where(factor.mean(axis=1) > 0, factor.mean(axis=1), 1.0)[:, None]
            safe = np.where(factor > 0, factor, np.nan)
            level = _nanmean(history / safe[:, None, :], axis=2, min_count=4)
        else:
            factor = nanmedian(history - level[:, :, None], axis=1)
            factor = np.nan_to_num(factor)
            factor = factor - factor.mean(axis=1)[:, None]
            level = _nanmean(history - factor[:, None, :], axis=2, min_count=4)
    at = _level_at(level, centers, float(k * 7))
    if multiplicative:
        expected = np.maximum(at, 0.0) * factor[:, 0]
        fitted = level[:, :, None] * factor[:, None, :]
    else:
        expected = at + factor[:, 0]
        fitted = level[:, :, None] + factor[:, None, :]
    enough = np.sum(~np.isnan(level), axis=1) >= MIN_WEEKS
    expected = np.where(enough, expected, np.nan)
    n = np.sum(~np.isnan(history - fitted), axis=(1, 2)).astype(np.float64)
    return _Fit(expected=expected, fitted=fitted, history=history, n=n, weeks=k)


def _pooled(per_series: FloatArray, groups: IntArray, informative: npt.NDArray[np.bool_]) -> FloatArray:
    """The median of ``per_series`` over the informative members of each series' group."""
    pool = np.full(per_series.shape, np.nan)
    for g in np.unique(groups):
        members = groups == g
        chosen = members & informative & np.isfinite(per_series)
        if not chosen.any():
            chosen = members & np.isfinite(per_series)
        if chosen.any():
            pool[members] = float(np.median(per_series[chosen]))
    return pool


def _shrink(own: FloatArray, pool: FloatArray, n: FloatArray) -> FloatArray:
    own = np.where(np.isfinite(own), own, pool)
    return np.asarray((n * own + _POOL_WEIGHT * pool) / (n + _POOL_WEIGHT), dtype=np.float64)


def _robust_var(resid: FloatArray, dof: float) -> FloatArray:
    flat = resid.reshape(resid.shape[0], -1)
    return nanmedian(flat**2, axis=1) / _CHI2_MEDIAN * dof


def score_day(
    values: FloatArray,
    col: int,
    *,
    model: Model,
    training_days: int,
    groups: IntArray,
    denominators: FloatArray | None = None,
    fixed_pool: FloatArray | None = None,
) -> DayScores:
    """Score column ``col`` of ``values`` (S, T) using only columns before it.

    ``groups`` labels series that share a dispersion pool; ``denominators`` (same shape as
    ``values``) are the impressions behind a rate; ``fixed_pool`` replaces the pooled
    dispersion (used to score a few rows consistently with the whole panel).
    """
    s = values.shape[0]
    weeks = min(training_days, col) // 7
    observed = values[:, col].astype(np.float64)
    if weeks < MIN_WEEKS:
        nan = np.full(s, np.nan)
        return DayScores(observed, nan, nan, nan, nan, nan, nan)
    history = values[:, col - weeks * 7 : col].reshape(s, weeks, 7)
    fit = _fit(history, multiplicative=model is not Model.CONTINUOUS)
    points = weeks * 7
    dof = points / max(points - weeks - 6, 1) * _DOF_SCALE
    inflation = 1.0 + 1.9 / weeks
    ctx = _Day(observed, groups, dof, inflation, fixed_pool)
    if model is Model.COUNT:
        return _score_counts(fit, ctx)
    if model is Model.RATE and denominators is not None:
        den_hist = denominators[:, col - points : col].reshape(s, weeks, 7)
        return _score_rates(fit, ctx, den_hist, denominators[:, col])
    return _score_continuous(fit, ctx)


def _score_counts(fit: _Fit, ctx: _Day) -> DayScores:
    y, groups, dof, inflation, fixed_pool = ctx.observed, ctx.groups, ctx.dof, ctx.inflation, ctx.fixed_pool
    fitted = fit.fitted
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(fitted > 0, (fit.history - fitted) / fitted, np.nan)
        poisson = nanmedian(np.where(fitted > 0, 1.0 / fitted, np.nan).reshape(fitted.shape[0], -1), axis=1)
    alpha_own = np.maximum(_robust_var(rel, dof) - poisson, 0.0)
    mean_level = nanmedian(fitted.reshape(fitted.shape[0], -1), axis=1)
    pool = fixed_pool if fixed_pool is not None else _pooled(alpha_own, groups, mean_level >= 5.0)
    alpha = _shrink(alpha_own, np.nan_to_num(pool), fit.n)
    mu = np.maximum(fit.expected, 0.5)
    var = (mu + alpha * mu**2) * inflation
    p = mu / var
    n = mu * p / (1.0 - p)
    k = np.round(np.nan_to_num(y))
    dist = stats.nbinom(np.nan_to_num(n, nan=1.0), np.nan_to_num(p, nan=0.5))
    pmf = dist.pmf(k)
    cdf = dist.cdf(k)
    bad = np.isnan(y) | np.isnan(fit.expected)
    p_low = np.where(bad, np.nan, np.clip(cdf - 0.5 * pmf, 0.0, 1.0))
    p_high = np.where(bad, np.nan, np.clip(1.0 - cdf + 0.5 * pmf, 0.0, 1.0))
    lower = np.where(np.isnan(fit.expected), np.nan, dist.ppf(0.025))
    upper = np.where(np.isnan(fit.expected), np.nan, dist.ppf(0.975))
    return DayScores(y, fit.expected, lower, upper, p_low, p_high, np.asarray(pool, dtype=np.float64))


def _score_rates(fit: _Fit, ctx: _Day, den_hist: FloatArray, den_today: FloatArray) -> DayScores:
    y, groups, dof, inflation, fixed_pool = ctx.observed, ctx.groups, ctx.dof, ctx.inflation, ctx.fixed_pool
    fitted = np.clip(fit.fitted, 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        binomial = np.where(den_hist > 0, fitted * (1 - fitted) / den_hist, np.nan)
        scale = np.where(fitted > 0, fitted, np.nan)
        rel = (fit.history - fitted) / scale
        rel_binomial = nanmedian((binomial / scale**2).reshape(fitted.shape[0], -1), axis=1)
    tau_own = np.maximum(_robust_var(rel, dof) - rel_binomial, 0.0)  # relative extra variance
    informative = nanmedian(den_hist.reshape(den_hist.shape[0], -1), axis=1) >= 100.0
    pool = fixed_pool if fixed_pool is not None else _pooled(tau_own, groups, informative)
    tau = _shrink(tau_own, np.nan_to_num(pool), fit.n)
    p0 = np.clip(fit.expected, 1e-9, 1 - 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (p0 * (1 - p0) / np.where(den_today > 0, den_today, np.nan) + tau * p0**2) * inflation
        z = (y - fit.expected) / np.sqrt(var)
    sd = np.sqrt(var)
    return DayScores(
        observed=y,
        expected=fit.expected,
        lower=np.clip(fit.expected - 1.96 * sd, 0.0, 1.0),
        upper=np.clip(fit.expected + 1.96 * sd, 0.0, 1.0),
        p_low=stats.norm.cdf(z),
        p_high=stats.norm.sf(z),
        pool=np.asarray(pool, dtype=np.float64),
    )


def _score_continuous(fit: _Fit, ctx: _Day) -> DayScores:
    y, groups, dof, inflation, fixed_pool = ctx.observed, ctx.groups, ctx.dof, ctx.inflation, ctx.fixed_pool
    var_own = _robust_var(fit.history - fit.fitted, dof)
    floor = (1e-3 * np.abs(np.nan_to_num(fit.expected))) ** 2 + 1e-12
    log_own = np.log(np.maximum(var_own, floor))
    pool = fixed_pool if fixed_pool is not None else _pooled(log_own, groups, fit.n >= 14)
    var = np.exp(_shrink(log_own, np.nan_to_num(pool), fit.n)) * inflation
    df = max(fit.weeks * 7 - fit.weeks - 6, 3)
    sd = np.sqrt(var)
    z = (y - fit.expected) / sd
    half = stats.t.ppf(0.975, df) * sd
    return DayScores(
        observed=y,
        expected=fit.expected,
        lower=fit.expected - half,
        upper=fit.expected + half,
        p_low=stats.t.cdf(z, df),
        p_high=stats.t.sf(z, df),
        pool=np.asarray(pool, dtype=np.float64),
    )
