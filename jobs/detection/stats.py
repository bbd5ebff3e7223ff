"""Per-day baselines and noise models, vectorised over every series of a panel.

:func:`score_day` answers, for one column ``col`` of a ``(series, days)`` matrix: what
was expected from the columns before it, how wide is the 95% predictive interval, and
how surprising is the observed value (one-sided tail probabilities both ways).

Baseline: the last ``training_days`` (whole weeks) are cut into weeks; each series gets
weekday factors and a weekly level with a Theil-Sen trend, extrapolated to ``col``; when
the last 2-4 whole weeks all sit more than 15% off the line of the weeks before them (a
step, not a trend), the level re-bases onto those weeks alone. Counts and rates are multiplicative (``level x factor``), continuous metrics
additive. The fit is done twice: history points more than 4 standard deviations off the
first fit (past anomalies, outages, holidays) are left out of the second, so they poison
neither the baseline nor the noise estimate.

Noise, by model:

- counts: overdispersed Poisson, ``var = mu + alpha mu^2``, with a log-normal rate (web
  traffic moves by multiplicative shocks, whose upper tail is heavier than a negative
  binomial's gamma would have it; tails by Gauss-Hermite quadrature); ``alpha`` is a moment estimate
  from all in-sample residuals (degrees-of-freedom corrected), shrunk towards the median
  of the series' group (a property's dimension) by empirical Bayes: a series whose own
  estimate is precise keeps it, a small or short one borrows from its group.
- rates (CTR): clicks are binomial in impressions with an extra-binomial variance
  ``tau (n p)^2`` estimated and pooled the same way; the expected rate is a ratio of
  sums, so days with zero clicks are no problem.
- continuous (position): a pooled residual variance and a t distribution.

Small samples: the predictive variance adds the baseline's own estimation error, and
tail probabilities use a t distribution whose degrees of freedom reflect how precisely
the noise itself is known, so that p-values stay calibrated far into the tail where
alerting decisions are made.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from jobs.domain import FloatArray

__all__ = ["MEAN_ERROR", "MIN_WEEKS", "DayScores", "Model", "Pool", "nanmedian", "score_day"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Relative distance from the trend line of the weeks before at which the last weeks mean a new level.
_REBASE = 0.15
#: Fewest whole weeks of history a baseline needs.
MIN_WEEKS = 3
#: History points this many standard deviations off the first fit are left out of the second.
_OUTLIER_Z = 4.0
#: Variance of the baseline's own estimate, as a share of one day's variance, times weeks.
MEAN_ERROR = 1.9
#: Degrees of freedom bounds of the predictive t tails.
_DF_MIN, _DF_MAX = 4.0, 1e4
#: Gauss-Hermite nodes and weights (standard normal) for the log-normal rate mixture.
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)
_GH_W = _GH_W / _GH_W.sum()


class Model(enum.Enum):
    COUNT = "count"
    RATE = "rate"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class Pool:
    """Per series: the group's central noise parameter and the spread of the true
    parameters around it (what empirical-Bayes shrinkage needs)."""

    center: FloatArray
    between: FloatArray

    def take(self, rows: IntArray) -> Pool:
        return Pool(self.center[rows], self.between[rows])


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
    #: The pooled noise parameters (reused to score a few rows consistently with the panel).
    pool: Pool
    #: Predictive standard deviation of the value (in the metric's unit).
    sd: FloatArray

    def take(self, rows: IntArray) -> DayScores:
        return DayScores(
            self.observed[rows],
            self.expected[rows],
            self.lower[rows],
            self.upper[rows],
            self.p_low[rows],
            self.p_high[rows],
            self.pool.take(rows),
            self.sd[rows],
        )


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


def _theil_sen(levels: FloatArray, centers: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per series, the intercept and slope of a Theil-Sen line through the weekly levels
    (slope 0 with fewer than :data:`MIN_WEEKS` weeks)."""
    k = levels.shape[1]
    i, j = np.triu_indices(k, 1)
    slopes = nanmedian((levels[:, j] - levels[:, i]) / (centers[j] - centers[i]), axis=1)
    slopes = np.nan_to_num(np.where(np.sum(~np.isnan(levels), axis=1) >= MIN_WEEKS, slopes, 0.0))
    intercepts = nanmedian(levels - slopes[:, None] * centers[None, :], axis=1)
    return intercepts, slopes


def _level_at(levels: FloatArray, centers: FloatArray, at: float) -> FloatArray:
    """Each series' weekly level (S, K) at day ``at``: a robust (Theil-Sen) line, unless the
    last 2-4 weeks all sit more than :data:`_REBASE` off the line of the weeks before them, on
    one side: then the series has moved to a new level (a step, not a trend) and only those
    weeks count (their own line from 3 weeks on, their mean before)."""
    k = levels.shape[1]
    intercepts, slopes = _theil_sen(levels, centers)
    out = intercepts + slopes * at
    done = np.zeros(levels.shape[0], dtype=np.bool_)
    for recent in (4, 3, 2):
        first = k - recent
        if first < MIN_WEEKS:
            continue
        ic, sl = _theil_sen(levels[:, :first], centers[:first])
        line = ic[:, None] + sl[:, None] * centers[None, first:]
        with np.errstate(invalid="ignore", divide="ignore"):
            off = (levels[:, first:] - line) / np.abs(line)
            step = ((off > _REBASE).all(axis=1) | (off < -_REBASE).all(axis=1)) & np.isfinite(off).all(axis=1)
        step &= ~done
        if recent >= 3:
            ic2, sl2 = _theil_sen(levels[:, first:], centers[first:])
            new = ic2 + sl2 * at
        else:
            new = levels[:, first:].mean(axis=1)
        out = np.where(step, new, out)
        done |= step
    return out


@dataclass(frozen=True)
class _Fit:
    expected: FloatArray  # (S,)
    fitted: FloatArray  # (S, K, 7) in-sample
    n: FloatArray  # valid history points per series
    weeks: int

    @property
    def dof(self) -> FloatArray:
        """Residual degrees-of-freedom correction n / (n - parameters), per series."""
        params = self.weeks + 6.0
        return np.asarray(np.where(self.n > params + 2, self.n / np.maximum(self.n - params, 1.0), 3.0))


def _week_level(values: FloatArray, *, robust: bool) -> FloatArray:
    """Each week's level from at least 4 of its days: the median (robust) or the mean."""
    if not robust:
        return _nanmean(values, axis=2, min_count=4)
    return np.where(np.sum(~np.isnan(values), axis=2) >= 4, nanmedian(values, axis=2), np.nan)


def _fit(history: FloatArray, *, multiplicative: bool, robust: bool = False) -> _Fit:
    """Weekday factors (median over weeks, so one bad week cannot move them) and weekly levels
    (``robust``: medians of the days, so a few bad days cannot move them either)."""
    k = history.shape[1]
    centers = np.arange(k, dtype=np.float64) * 7.0 + 3.0
    level = _week_level(history, robust=robust)
    with np.errstate(invalid="ignore", divide="ignore"):
        if multiplicative:
            factor = nanmedian(history / level[:, :, None], axis=1)
            factor = np.where(np.isfinite(factor), factor, 1.0)
            factor = factor / np.where(factor.mean(axis=1) > 0, factor.mean(axis=1), 1.0)[:, None]
            safe = np.where(factor > 0, factor, np.nan)
            level = _week_level(history / safe[:, None, :], robust=robust)
        else:
            factor = nanmedian(history - level[:, :, None], axis=1)
            factor = np.nan_to_num(factor)
            factor = factor - factor.mean(axis=1)[:, None]
            level = _week_level(history - factor[:, None, :], robust=robust)
    at = _level_at(level, centers, float(k * 7))
    if multiplicative:
        expected = np.maximum(at, 0.0) * factor[:, 0]
        fitted = level[:, :, None] * factor[:, None, :]
    else:
        expected = at + factor[:, 0]
        fitted = level[:, :, None] + factor[:, None, :]
    enough = np.sum(~np.isnan(level), axis=1) >= MIN_WEEKS
    n = np.sum(~np.isnan(history - fitted), axis=(1, 2)).astype(np.float64)
    return _Fit(expected=np.where(enough, expected, np.nan), fitted=fitted, n=n, weeks=k)


def _fit_rate(clicks: FloatArray, shown: FloatArray) -> _Fit:
    """Rates as ratios of sums: weekly clicks / impressions, weekday factors likewise."""
    k = clicks.shape[1]
    centers = np.arange(k, dtype=np.float64) * 7.0 + 3.0
    days = np.sum(~np.isnan(clicks), axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(days >= 4, np.nansum(clicks, axis=2) / np.nansum(shown, axis=2), np.nan)
        base = shown * level[:, :, None]
        factor = np.nansum(clicks, axis=1) / np.nansum(np.where(np.isnan(clicks), np.nan, base), axis=1)
        factor = np.where(np.isfinite(factor) & (factor > 0), factor, 1.0)
        factor = factor / factor.mean(axis=1)[:, None]
        expected_clicks = shown * factor[:, None, :]
        level = np.where(days >= 4, np.nansum(clicks, axis=2) / np.nansum(expected_clicks, axis=2), np.nan)
    at = _level_at(level, centers, float(k * 7))
    fitted = np.clip(level[:, :, None] * factor[:, None, :], 0.0, 1.0)
    enough = np.sum(~np.isnan(level), axis=1) >= MIN_WEEKS
    expected = np.where(enough, np.clip(at * factor[:, 0], 0.0, 1.0), np.nan)
    n = np.sum(~np.isnan(clicks - fitted), axis=(1, 2)).astype(np.float64)
    return _Fit(expected=expected, fitted=fitted, n=n, weeks=k)


def _pooled(per_series: FloatArray, sampling: FloatArray, groups: IntArray, informative: BoolArray) -> Pool:
    """Each group's median parameter, and the variance of true parameters around it (the
    robust spread of the members' estimates less their typical sampling variance)."""
    center = np.full(per_series.shape, np.nan)
    between = np.full(per_series.shape, np.nan)
    for g in np.unique(groups):
        members = groups == g
        chosen = members & informative & np.isfinite(per_series)
        if not chosen.any():
            chosen = members & np.isfinite(per_series)
        if not chosen.any():
            continue
        values = per_series[chosen]
        mid = float(np.median(values))
        spread = (1.4826 * float(np.median(np.abs(values - mid)))) ** 2 - float(np.median(sampling[chosen]))
        center[members] = mid
        between[members] = max(spread, (0.3 * mid) ** 2, 1e-12)
    return Pool(center, between)


def _shrink(own: FloatArray, sampling: FloatArray, pool: Pool) -> tuple[FloatArray, FloatArray]:
    """Empirical-Bayes estimate and its variance (precision-weighted own and group)."""
    center = np.nan_to_num(pool.center)
    between = np.where(np.isfinite(pool.between), pool.between, 1e-12)
    w_own = np.where(np.isfinite(own) & np.isfinite(sampling), 1.0 / np.maximum(sampling, 1e-18), 0.0)
    w_pool = 1.0 / between
    value = (w_own * np.nan_to_num(own) + w_pool * center) / (w_own + w_pool)
    return np.maximum(value, 0.0), 1.0 / (w_own + w_pool)


def _t_tails(p_low: FloatArray, p_high: FloatArray, df: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normal-scale tail probabilities re-read on a t distribution with ``df`` (heavier tails)."""
    with np.errstate(invalid="ignore"):
        low = stats.t.sf(stats.norm.isf(np.clip(p_low, 1e-300, 1.0)), df)
        high = stats.t.sf(stats.norm.isf(np.clip(p_high, 1e-300, 1.0)), df)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def _df(known_part: FloatArray, variance_of_known: FloatArray, total: FloatArray) -> FloatArray:
    """Degrees of freedom of a variance whose ``known_part`` is estimated with ``variance_of_known``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cv2 = variance_of_known * known_part**2 / total**2
        df = 2.0 / cv2
    return np.asarray(np.clip(np.nan_to_num(df, nan=_DF_MAX, posinf=_DF_MAX), _DF_MIN, _DF_MAX))


def score_day(
    values: FloatArray,
    col: int,
    *,
    model: Model,
    training_days: int,
    groups: IntArray,
    denominators: FloatArray | None = None,
    fixed_pool: Pool | None = None,
) -> DayScores:
    """Score column ``col`` of ``values`` (S, T) using only columns before it.

    ``groups`` labels series that share a noise pool; ``denominators`` (same shape as
    ``values``) are the impressions behind a rate; ``fixed_pool`` replaces the pooled
    noise parameters (used to score a few rows consistently with the whole panel).
    """
    s = values.shape[0]
    weeks = min(training_days, col) // 7
    observed = values[:, col].astype(np.float64)
    if weeks < MIN_WEEKS:
        nan = np.full(s, np.nan)
        return DayScores(observed, nan, nan, nan, nan, nan, Pool(nan, nan), nan)
    points = weeks * 7
    history = values[:, col - points : col].reshape(s, weeks, 7).astype(np.float64, copy=True)
    inflation = 1.0 + MEAN_ERROR / weeks
    if model is Model.COUNT:
        return _score_counts(history, observed, groups, inflation, fixed_pool)
    if model is Model.RATE and denominators is not None:
        shown = denominators[:, col - points : col].reshape(s, weeks, 7)
        return _score_rates(history, shown, observed, denominators[:, col], groups, inflation, fixed_pool)
    return _score_continuous(history, observed, groups, inflation, fixed_pool)


def _count_alpha(history: FloatArray, fit: _Fit) -> tuple[FloatArray, FloatArray]:
    """Moment estimate of the NB dispersion per series, and its sampling variance."""
    mu = np.where(fit.fitted > 0, fit.fitted, np.nan)
    sq = (history - mu) ** 2 * fit.dof[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu2 = np.nansum(np.where(np.isnan(sq), np.nan, mu**2), axis=(1, 2))
        alpha = np.nansum(sq - mu, axis=(1, 2)) / mu2
        guess = np.maximum(alpha, 0.005)
        var_t = np.where(np.isnan(sq), np.nan, mu + guess[:, None, None] * mu**2)
        sampling = 2.0 * np.nansum(var_t**2, axis=(1, 2)) / mu2**2
    return np.where(mu2 > 0, alpha, np.nan), np.where(mu2 > 0, sampling, np.nan)


def _robust_excess(resid: FloatArray, base_var: FloatArray, scale: FloatArray) -> FloatArray:
    """A first-pass, outlier-proof estimate of the extra variance per series: the squared MAD
    of ``resid / scale`` less the median of ``base_var / scale^2`` (what is left over beyond
    Poisson or binomial noise), so that the outliers the second pass drops cannot mask
    themselves by inflating it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = (resid / scale).reshape(resid.shape[0], -1)
        center = nanmedian(rel, axis=1)
        mad = 1.4826 * nanmedian(np.abs(rel - center[:, None]), axis=1)
        floor = nanmedian((base_var / scale**2).reshape(resid.shape[0], -1), axis=1)
    return np.asarray(np.maximum(np.nan_to_num(mad**2 - floor), 0.0), dtype=np.float64)


def _score_counts(
    history: FloatArray, y: FloatArray, groups: IntArray, inflation: float, fixed_pool: Pool | None
) -> DayScores:
    fit = _fit(history, multiplicative=True, robust=True)
    mu = np.where(fit.fitted > 0, fit.fitted, np.nan)
    first = _robust_excess(history - mu, mu, mu)
    with np.errstate(invalid="ignore", divide="ignore"):  # second pass without the outliers
        z = (history - mu) / np.sqrt(mu + first[:, None, None] * mu**2 + 0.25)
    clean = np.where(np.abs(z) > _OUTLIER_Z, np.nan, history)
    fit = _fit(clean, multiplicative=True)
    # the noise is estimated on every point, outliers pulled in to the cut-off (winsorised):
    # dropping them would make heavy-tailed noise look light-tailed
    reach = _OUTLIER_Z * np.sqrt(fit.fitted + first[:, None, None] * fit.fitted**2 + 0.25)
    own, sampling = _count_alpha(np.clip(history, fit.fitted - reach, fit.fitted + reach), fit)
    level = nanmedian(fit.fitted.reshape(fit.fitted.shape[0], -1), axis=1)
    pool = fixed_pool if fixed_pool is not None else _pooled(own, sampling, groups, level >= 5.0)
    alpha, alpha_var = _shrink(own, sampling, pool)
    mu = np.maximum(fit.expected, 0.5)
    noise = mu + alpha * mu**2
    var = noise * inflation
    df = _df(mu**2, alpha_var, var)
    widen = (stats.t.isf(0.025, df) / 1.96) ** 2
    k = np.round(np.nan_to_num(y))
    p_low, p_high = _pln_tails(k, mu, (var - mu) / mu**2)
    p_low, p_high = _t_tails(p_low, p_high, df)
    bad = np.isnan(y) | np.isnan(fit.expected)
    lo, hi = _nb_interval(mu, var * widen)
    missing = np.isnan(fit.expected)
    return DayScores(
        observed=y,
        expected=fit.expected,
        lower=np.where(missing, np.nan, lo),
        upper=np.where(missing, np.nan, hi),
        p_low=np.where(bad, np.nan, p_low),
        p_high=np.where(bad, np.nan, p_high),
        pool=pool,
        sd=np.where(missing, np.nan, np.sqrt(var)),
    )


def _nb(mu: FloatArray, var: FloatArray) -> tuple[FloatArray, FloatArray]:
    """scipy's (n, p) of a negative binomial with mean ``mu`` and variance ``var`` (> mu)."""
    var = np.maximum(var, mu * (1.0 + 1e-6))
    p = mu / var
    n = mu * p / (1.0 - p)
    return np.nan_to_num(n, nan=1.0), np.nan_to_num(p, nan=0.5)


def _nb_tails(k: FloatArray, mu: FloatArray, var: FloatArray) -> tuple[FloatArray, FloatArray]:
    n, p = _nb(mu, var)
    pmf = stats.nbinom.pmf(k, n, p)
    cdf = stats.nbinom.cdf(k, n, p)
    return np.clip(cdf - 0.5 * pmf, 0.0, 1.0), np.clip(1.0 - cdf + 0.5 * pmf, 0.0, 1.0)


def _pln_tails(k: FloatArray, mu: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mid-p tails of a Poisson whose rate is ``mu`` times a mean-one log-normal with
    variance ``alpha`` (so ``var = mu + alpha mu^2``), integrated over the log-normal."""
    s2 = np.log1p(np.maximum(np.nan_to_num(alpha), 0.0))
    lam = np.maximum(mu, 1e-9)[:, None] * np.exp(np.sqrt(s2)[:, None] * _GH_X[None, :] - 0.5 * s2[:, None])
    kk = k[:, None]
    pmf = np.exp(kk * np.log(lam) - lam - special.gammaln(kk + 1.0))
    low = (special.pdtr(kk, lam) - 0.5 * pmf) @ _GH_W
    high = (special.pdtrc(kk, lam) + 0.5 * pmf) @ _GH_W
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def _nb_interval(mu: FloatArray, var: FloatArray) -> tuple[FloatArray, FloatArray]:
    n, p = _nb(mu, var)
    return stats.nbinom.ppf(0.025, n, p), stats.nbinom.ppf(0.975, n, p)


def _rate_tau(clicks: FloatArray, shown: FloatArray, fit: _Fit) -> tuple[FloatArray, FloatArray]:
    """Moment estimate of the extra-binomial relative variance of clicks, and its sampling variance."""
    m = shown * fit.fitted
    binom = m * (1.0 - fit.fitted)
    sq = (clicks - m) ** 2 * fit.dof[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        m2 = np.nansum(np.where(np.isnan(sq), np.nan, m**2), axis=(1, 2))
        tau = np.nansum(sq - binom, axis=(1, 2)) / m2
        guess = np.maximum(tau, 0.005)
        var_t = np.where(np.isnan(sq), np.nan, binom + guess[:, None, None] * m**2)
        sampling = 2.0 * np.nansum(var_t**2, axis=(1, 2)) / m2**2
    return np.where(m2 > 0, tau, np.nan), np.where(m2 > 0, sampling, np.nan)


def _score_rates(
    history: FloatArray,
    shown_hist: FloatArray,
    y: FloatArray,
    shown: FloatArray,
    groups: IntArray,
    inflation: float,
    fixed_pool: Pool | None,
) -> DayScores:
    valid = np.isfinite(history) & np.isfinite(shown_hist) & (shown_hist > 0)
    n_hist = np.where(valid, shown_hist, np.nan)
    clicks = np.where(valid, np.round(history * shown_hist), np.nan)
    fit = _fit_rate(clicks, n_hist)
    m = n_hist * fit.fitted
    first = _robust_excess(clicks - m, m * (1 - fit.fitted), np.where(m > 0, m, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (clicks - m) / np.sqrt(m * (1 - fit.fitted) + first[:, None, None] * m**2 + 0.25)
    keep = ~(np.abs(z) > _OUTLIER_Z)
    clicks, n_hist = np.where(keep, clicks, np.nan), np.where(keep, n_hist, np.nan)
    fit = _fit_rate(clicks, n_hist)
    own, sampling = _rate_tau(clicks, n_hist, fit)
    informative = nanmedian(n_hist.reshape(n_hist.shape[0], -1), axis=1) >= 100.0
    pool = fixed_pool if fixed_pool is not None else _pooled(own, sampling, groups, informative)
    tau, tau_var = _shrink(own, sampling, pool)
    p0 = np.clip(fit.expected, 1e-9, 1 - 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where(shown > 0, shown, np.nan)
        m = n * p0
        var = (m * (1 - p0) + tau * m**2) * inflation
        sd = np.sqrt(var)
        sd_rate = sd / n
        c = np.round(np.nan_to_num(y * n))
        excess = np.nan_to_num((var - m) / m**2)  # beyond Poisson (a binomial's is a little less)
    df = _df(m**2, tau_var, var)
    p_low, p_high = _pln_tails(c, np.nan_to_num(m, nan=1.0), excess)
    p_low, p_high = _t_tails(p_low, p_high, df)
    half = stats.t.isf(0.025, df) * sd_rate
    bad = np.isnan(y) | np.isnan(fit.expected) | np.isnan(n)
    return DayScores(
        observed=y,
        expected=fit.expected,
        lower=np.clip(fit.expected - half, 0.0, 1.0),
        upper=np.clip(fit.expected + half, 0.0, 1.0),
        p_low=np.where(bad, np.nan, np.minimum(p_low, 1.0)),
        p_high=np.where(bad, np.nan, np.minimum(p_high, 1.0)),
        pool=pool,
        sd=sd_rate,
    )


def _score_continuous(
    history: FloatArray, y: FloatArray, groups: IntArray, inflation: float, fixed_pool: Pool | None
) -> DayScores:
    def own_var(h: FloatArray, f: _Fit) -> tuple[FloatArray, FloatArray]:
        resid2 = (h - f.fitted) ** 2 * f.dof[:, None, None]
        var = _nanmean(resid2.reshape(resid2.shape[0], -1), axis=1, min_count=2)
        floor = (1e-3 * np.abs(np.nan_to_num(f.expected))) ** 2 + 1e-12
        log_var = np.log(np.maximum(var, floor))
        return log_var, 2.0 / np.maximum(f.n - f.weeks - 6, 1.0)  # variance of a log variance

    fit = _fit(history, multiplicative=False, robust=True)
    resid = history - fit.fitted
    first = _robust_excess(resid, np.zeros_like(resid), np.ones_like(resid))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = resid / np.sqrt(np.maximum(first, 1e-12))[:, None, None]
    clean = np.where(np.abs(z) > _OUTLIER_Z, np.nan, history)
    fit = _fit(clean, multiplicative=False)
    own, sampling = own_var(clean, fit)
    pool = fixed_pool if fixed_pool is not None else _pooled(own, sampling, groups, fit.n >= 14)
    log_var, log_var_var = _shrink_log(own, sampling, pool)
    var = np.exp(log_var) * inflation
    df = np.clip(2.0 / np.maximum(log_var_var, 1e-12), _DF_MIN, _DF_MAX)
    sd = np.sqrt(var)
    z = (y - fit.expected) / sd
    half = stats.t.isf(0.025, df) * sd
    return DayScores(
        observed=y,
        expected=fit.expected,
        lower=fit.expected - half,
        upper=fit.expected + half,
        p_low=stats.t.cdf(z, df),
        p_high=stats.t.sf(z, df),
        pool=pool,
        sd=sd,
    )


def _shrink_log(own: FloatArray, sampling: FloatArray, pool: Pool) -> tuple[FloatArray, FloatArray]:
    """Like :func:`_shrink` on a log scale (log variances may be negative)."""
    center = np.nan_to_num(pool.center)
    between = np.where(np.isfinite(pool.between), np.maximum(pool.between, 0.05), 0.05)
    w_own = np.where(np.isfinite(own), 1.0 / np.maximum(sampling, 1e-12), 0.0)
    w_pool = 1.0 / between
    return (w_own * np.nan_to_num(own) + w_pool * center) / (w_own + w_pool), 1.0 / (w_own + w_pool)
