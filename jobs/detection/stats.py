"""Per-day scores of every series of a panel: expected value, noise, tail probabilities.

:func:`score_day` answers, for one column ``col`` of a ``(series, days)`` matrix: what
was expected from the columns before it (:mod:`jobs.detection.baseline`), how noisy the
series is, how surprising the observed value is (one-sided tail probabilities both ways,
:mod:`jobs.detection.noise`) and, on request, the 95% predictive interval.

The fit is done twice. The first pass uses weekly medians and an outlier-proof (MAD)
noise estimate; history points more than 4 standard deviations off it (past anomalies,
outages, holidays) are left out of the second pass, so they do not move the baseline.
They stay in the noise estimate, pulled in to the cut-off (winsorised): dropping them
would make heavy-tailed noise look light.

Noise, by model:

- counts: ``var = mu + alpha mu^2``, a Poisson-log-normal; ``alpha`` is a moment estimate
  from all in-sample residuals (degrees-of-freedom corrected), shrunk towards the median
  of the series' group (a property's dimension) by empirical Bayes: a series whose own
  estimate is precise keeps it, a small or short one borrows from its group.
- rates (CTR): clicks are binomial in impressions with an extra-binomial variance
  ``tau (n p)^2``, estimated and pooled the same way, and the same tails.
- continuous (position): a pooled residual variance and a t distribution.

Small samples: the predictive variance adds the baseline's own estimation error
(:data:`MEAN_ERROR`), and tails use a t distribution whose degrees of freedom reflect how
precisely the noise is known, so p-values stay calibrated far into the tail where
alerting decisions are made.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from jobs.detection import noise
from jobs.detection import threads as _threads
from jobs.detection.baseline import MIN_WEEKS, Fit, fit, fit_rate, nanmean, nanmedian
from jobs.detection.dispersion import Pool, excess, pooled, robust_excess, shrink
from jobs.domain import FloatArray

__all__ = [
    "BURST_EXCLUDED",
    "MEAN_ERROR",
    "MIN_WEEKS",
    "DayFit",
    "DayScores",
    "Model",
    "Pool",
    "finish_day",
    "fit_day",
    "fit_day_soon",
    "nanmedian",
    "score_day",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: History points this many standard deviations off the first fit are left out of the second.
_OUTLIER_Z = 4.0
#: Past points this many standard deviations off the first fit are incidents: left out of
#: the noise estimate too (winsorised instead, each would still add nine variances).
_INCIDENT_Z = 6.0
#: Residuals are pulled in to this many first-pass standard deviations for the noise estimate
#: (winsorised), and scaled so that normal noise is estimated without bias.
_WINSOR = 3.0
_WINSOR_SCALE = 1.0 / np.sqrt(0.9707)
#: Variance of the baseline's own estimate, as a share of one day's variance, times weeks.
MEAN_ERROR = 1.9
#: A count at or below this share of its fitted value (itself at least 10) is a past collapse.
_COLLAPSED = 0.05
#: A count at or above this many times its fitted value (itself at least 10) is a past burst:
#: left out of the baseline and of the noise estimate however noisy the series, so that a
#: burst never becomes the level (and the return to normal after it is no drop).
BURST_EXCLUDED = 3.0
#: Series with a day this many times the lowest week's fit of its weekday are looked at for bursts.
_BURST_SCREEN = 2.5
#: Rows whose cheap tail screen is below this get exact (quadrature) tails.
_SCREEN = 0.08
#: A day's weight counts at most this far below (and its inverse above) the series' median.
_MIN_WEIGHT = 0.02
#: Series fitted together by the count model, at most (see :func:`_fit_counts`).
_BLOCK = 4096


def _cuts(n: int) -> list[int]:
    """Edges of blocks of at most :data:`_BLOCK` rows of ``n``, as even as can be, their
    number a multiple of the threads (none idle while another fits a short last block)."""
    count = -(-max(n, 1) // _BLOCK)
    count = -(-count // _threads.count) * _threads.count if n > _BLOCK // 2 else 1
    return [n * i // count for i in range(count + 1)]


class Model(enum.Enum):
    COUNT = "count"
    RATE = "rate"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class DayScores:
    """Scores of every series on one day. NaN ``expected``: not enough history to say.
    ``lower``/``upper`` are NaN unless asked for (``intervals=True``)."""

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
    #: The day's weekday factor (counts, rates) or offset (continuous): expected = level x/+ season.
    season: FloatArray


def score_day(
    values: FloatArray,
    col: int,
    *,
    model: Model,
    training_days: int,
    groups: IntArray,
    denominators: FloatArray | None = None,
    fixed_pool: Pool | None = None,
    intervals: bool = True,
    observed: FloatArray | None = None,
    widen: float = 1.0,
    weights: FloatArray | None = None,
) -> DayScores:
    """Score column ``col`` of ``values`` (S, T) using only columns before it.

    ``groups`` labels series that share a noise pool; ``denominators`` (same shape as
    ``values``) are the impressions behind a rate; ``fixed_pool`` replaces the pooled
    noise parameters (used to score a few rows consistently with the whole panel);
    ``observed`` replaces column ``col`` as the day's values (a holiday blanked in
    ``values`` for later baselines) and ``widen`` multiplies the predictive variance;
    ``weights`` (same shape as ``values``) are the impressions behind an average (position):
    a day's variance is taken inversely proportional to them.

    The same as :func:`fit_day` followed by :func:`finish_day`.
    """
    day = fit_day(values, col, model=model, training_days=training_days, denominators=denominators, weights=weights)
    return finish_day(
        day,
        values[:, col] if observed is None else observed,
        groups=groups,
        shown=denominators[:, col] if denominators is not None else None,
        weights=weights[:, col] if weights is not None else None,
        fixed_pool=fixed_pool,
        intervals=intervals,
        widen=widen,
    )


@dataclass(frozen=True)
class DayFit:
    """Each series' fit for one day before its noise is pooled with its group's: expected
    value, weekday factor, own noise estimate and its sampling variance. It depends on the
    history before the day only, each series on its own, so a walk fits a day once and
    scores any subset of its rows (:meth:`take`) with any pooled parameters from it."""

    model: Model
    weeks: int
    expected: FloatArray
    season: FloatArray
    own: FloatArray
    sampling: FloatArray
    #: the series that inform the group's pooled parameters
    informative: BoolArray
    #: continuous with weights: each series' median weight over the window
    ref: FloatArray | None = None

    def take(self, rows: IntArray) -> DayFit:
        ref = self.ref[rows] if self.ref is not None else None
        return DayFit(
            self.model,
            self.weeks,
            self.expected[rows],
            self.season[rows],
            self.own[rows],
            self.sampling[rows],
            self.informative[rows],
            ref,
        )

    @staticmethod
    def stack(parts: list[DayFit]) -> DayFit:
        """The rows of ``parts`` (fits of one day), one after the other."""
        first = parts[0]
        refs = [p.ref for p in parts if p.ref is not None]
        ref: FloatArray | None = np.concatenate(refs) if len(refs) == len(parts) else None
        return DayFit(
            first.model,
            first.weeks,
            np.concatenate([p.expected for p in parts]),
            np.concatenate([p.season for p in parts]),
            np.concatenate([p.own for p in parts]),
            np.concatenate([p.sampling for p in parts]),
            np.concatenate([p.informative for p in parts]),
            ref,
        )


def fit_day(
    values: FloatArray,
    col: int,
    *,
    model: Model,
    training_days: int,
    denominators: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> DayFit:
    """The pool-free part of :func:`score_day`: every series of ``values`` fitted on the
    whole weeks before ``col`` (``weeks`` 0 and NaN everywhere without enough of them)."""
    s = values.shape[0]
    weeks = min(training_days, col) // 7
    if weeks < MIN_WEEKS:
        nan = np.full(s, np.nan)
        return DayFit(model, 0, nan, nan, nan, nan, np.zeros(s, dtype=np.bool_))
    points = weeks * 7
    window = values[:, col - points : col].reshape(s, weeks, 7)
    if model is Model.COUNT:
        return _fit_counts(window, model, weeks)  # copies the window block by block
    history = window.astype(np.float64, copy=True)
    if model is Model.RATE and denominators is not None:
        shown = denominators[:, col - points : col].reshape(s, weeks, 7)
        return _fit_rates(history, shown, model, weeks)
    if weights is None:
        return _fit_continuous(history, model, weeks)
    w_hist = weights[:, col - points : col].reshape(s, weeks, 7)
    return _fit_continuous(history, model, weeks, w_hist=w_hist)


def fit_day_soon(
    values: FloatArray,
    col: int,
    *,
    model: Model,
    training_days: int,
    denominators: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> Callable[[], DayFit]:
    """:func:`fit_day` started on the thread pool (:mod:`jobs.detection.threads`), its
    blocks of series on any free thread: the call returned waits for it and gives the fit.
    A walk fits the next day this way while it decides the day before."""
    weeks = min(training_days, col) // 7
    if model is Model.COUNT and weeks >= MIN_WEEKS:
        window = values[:, col - weeks * 7 : col].reshape(values.shape[0], weeks, 7)
        edges = _cuts(values.shape[0])
        blocks = [_threads.submit(_count_block, window, a, b) for a, b in itertools.pairwise(edges)]
        return lambda: _count_fit([block.result() for block in blocks], model, weeks)
    later = _threads.submit(
        lambda: fit_day(
            values, col, model=model, training_days=training_days, denominators=denominators, weights=weights
        )
    )
    return later.result


def finish_day(
    day: DayFit,
    observed: FloatArray,
    *,
    groups: IntArray,
    shown: FloatArray | None = None,
    weights: FloatArray | None = None,
    fixed_pool: Pool | None = None,
    intervals: bool = True,
    widen: float = 1.0,
) -> DayScores:
    """Scores of ``observed`` (the day's values of the rows of ``day``) from their fit: noise
    pooled over ``groups`` (or ``fixed_pool``), tails and, on request, intervals. ``shown``
    are the day's denominators of a rate, ``weights`` its weights of an average."""
    observed = np.asarray(observed).astype(np.float64)
    if day.weeks < MIN_WEEKS:
        nan = np.full(observed.shape[0], np.nan)
        return DayScores(observed, nan, nan, nan, nan, nan, Pool(nan, nan), nan, nan)
    ctx = _Context(observed, groups, (1.0 + MEAN_ERROR / day.weeks) * widen, fixed_pool, intervals)
    if day.model is Model.COUNT:
        return _finish_counts(day, ctx)
    if day.model is Model.RATE and shown is not None:
        return _finish_rates(day, shown, ctx)
    return _finish_continuous(day, ctx, weights if day.ref is not None else None)


@dataclass(frozen=True)
class _Context:
    observed: FloatArray
    groups: IntArray
    inflation: float
    fixed_pool: Pool | None
    intervals: bool


def _season(f: Fit) -> FloatArray:
    return f.season if f.season is not None else np.full(f.expected.shape, np.nan)


def _spread(part: Callable[[int, int], None], n: int) -> None:
    """``part`` over blocks of ``range(n)``, on the detection threads when there are rows enough."""
    edges = _cuts(n) if n >= _BLOCK // 2 else [0, n]
    _threads.map(part, edges[:-1], edges[1:])


def _tails(k: FloatArray, mu: FloatArray, var: FloatArray, df: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Poisson-log-normal tails, exact where a cheap screen says they may matter, t-adjusted."""
    p_low, p_high = noise.approx_tails(k, mu, var)
    exact = np.flatnonzero(np.fmin(p_low, p_high) < _SCREEN)
    if exact.size:
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = (var[exact] - mu[exact]) / mu[exact] ** 2
        p_low[exact], p_high[exact] = noise.pln_tails(k[exact], mu[exact], alpha, spread=_spread)
    return noise.t_tails(p_low, p_high, df)


def _refit_cleaned(f: Fit, history: FloatArray, z: FloatArray, *, multiplicative: bool) -> Fit:
    """``f`` with the series that have outliers (``|z|`` over the cut-off) fitted again
    without them; the others' fit stands as it is (no point would change it)."""
    outliers = np.abs(z) > _OUTLIER_Z
    rows = np.flatnonzero(outliers.any(axis=(1, 2)))
    if rows.size == 0:
        return f
    again = fit(np.where(outliers[rows], np.nan, history[rows]), multiplicative=multiplicative)
    expected, fitted, n = f.expected.copy(), f.fitted.copy(), f.n.copy()
    expected[rows], fitted[rows], n[rows] = again.expected, again.fitted, again.n
    season = None
    if f.season is not None and again.season is not None:
        season = f.season.copy()
        season[rows] = again.season
    return Fit(expected, fitted, n, f.weeks, season)


def _mark_bursts(history: FloatArray, mu: FloatArray, z: FloatArray) -> FloatArray:
    """``z`` with past bursts set to +inf: days at least :data:`BURST_EXCLUDED` times their
    weekday's median over the window (at least 10). The first fit's weekly means are pulled
    up by a burst itself (all the way, for a burst lasting weeks), so only the lowest of them
    per weekday screens which series to look at."""
    low, high = mu[:, 0].copy(), history[:, 0].copy()  # (S, 7); fmin: a NaN week does not count
    with np.errstate(invalid="ignore"):
        for week in range(1, mu.shape[1]):  # week by week: the same as fmin.reduce(axis=1), faster
            np.fmin(low, mu[:, week], out=low)
            np.fmax(high, history[:, week], out=high)
        rows = np.flatnonzero(((high >= _BURST_SCREEN * low) & (low >= 10.0)).any(axis=1))
    if rows.size == 0:
        return z
    sub = history[rows]
    usual = nanmedian(sub, axis=1)[:, None, :]
    with np.errstate(invalid="ignore"):
        hot = (sub >= BURST_EXCLUDED * usual) & (usual >= 10.0)
    out = z.copy()
    out[rows] = np.where(hot, np.inf, z[rows])
    return out


_CountBlock = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def _count_noise(history: FloatArray) -> _CountBlock:
    """Per series of ``history`` (S, K, 7): expected value, weekday factor, own excess
    variance and its sampling variance, typical level — everything before pooling, and
    each series' own business (no series looks at another)."""
    f = fit(history, multiplicative=True)
    mu = np.where(f.fitted > 0, f.fitted, np.nan)
    first = robust_excess(history - mu, mu, mu)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (history - mu) / np.sqrt(mu + first[:, None, None] * mu**2 + 0.25)
        # a collapse to near zero (a past tracking break) or a burst is an outlier whatever its z
        z = np.where((history <= _COLLAPSED * mu) & (mu >= 10.0), -np.inf, z)
    z = _mark_bursts(history, mu, z)
    f = _refit_cleaned(f, history, z, multiplicative=True)
    reach = _WINSOR * np.sqrt(f.fitted + first[:, None, None] * f.fitted**2 + 0.25)
    clean = np.where(np.abs(z) > _INCIDENT_Z, np.nan, history)
    own, sampling = excess(np.clip(clean - f.fitted, -reach, reach) * _WINSOR_SCALE, f.fitted, f.fitted, f)
    level = nanmedian(f.fitted.reshape(f.fitted.shape[0], -1), axis=1)
    return f.expected, _season(f), own, sampling, level


def _fit_counts(window: FloatArray, model: Model, weeks: int) -> DayFit:
    # Blocks of series, not the whole panel at once: the (block, K, 7) temporaries stay in
    # cache and the allocator reuses them, where panel-sized ones (45 MB at 100,000 series x
    # 8 weeks) would each be fresh memory, faulted in page by page. Each series is fitted on
    # its own, so the blocks are fitted on threads (numpy leaves the GIL in its loops) and
    # the numbers are the same however the panel is cut.
    edges = _cuts(window.shape[0])
    return _count_fit(_threads.map(_count_block, [window] * (len(edges) - 1), edges[:-1], edges[1:]), model, weeks)


def _count_block(window: FloatArray, a: int, b: int) -> _CountBlock:
    return _count_noise(window[a:b].astype(np.float64))


def _count_fit(blocks: list[_CountBlock], model: Model, weeks: int) -> DayFit:
    expected, season, own, sampling, level = (np.concatenate(part) for part in zip(*blocks, strict=True))
    return DayFit(model, weeks, expected, season, own, sampling, np.asarray(level >= 5.0))


def _finish_counts(day: DayFit, ctx: _Context) -> DayScores:
    expected, season, own, sampling = day.expected, day.season, day.own, day.sampling
    pool = ctx.fixed_pool if ctx.fixed_pool is not None else pooled(own, sampling, ctx.groups, day.informative)
    alpha, alpha_var = shrink(own, sampling, pool)
    alpha = np.maximum(alpha, 0.0)
    mu = np.maximum(expected, 0.5)
    var = (mu + alpha * mu**2) * ctx.inflation
    df = noise.dof(mu**2, alpha_var, var)
    p_low, p_high = _tails(np.asarray(np.round(np.nan_to_num(ctx.observed)), dtype=np.float64), mu, var, df)
    missing = np.isnan(expected)
    bad = missing | np.isnan(ctx.observed)
    lower = upper = np.full(mu.size, np.nan)
    if ctx.intervals:
        widen = (noise.t_isf(0.025, df) / 1.96) ** 2
        lower, upper = noise.pln_interval(mu, (var * widen - mu) / mu**2)
    return DayScores(
        observed=ctx.observed,
        expected=expected,
        lower=np.where(missing, np.nan, lower),
        upper=np.where(missing, np.nan, upper),
        p_low=np.where(bad, np.nan, p_low),
        p_high=np.where(bad, np.nan, p_high),
        pool=pool,
        sd=np.where(missing, np.nan, np.sqrt(var)),
        season=season,
    )


def _fit_rates(history: FloatArray, shown_hist: FloatArray, model: Model, weeks: int) -> DayFit:
    valid = np.isfinite(history) & np.isfinite(shown_hist) & (shown_hist > 0)
    n_hist = np.where(valid, shown_hist, np.nan)
    clicks = np.where(valid, np.round(history * shown_hist), np.nan)
    f = fit_rate(clicks, n_hist, predict=False)
    m = n_hist * f.fitted
    first = robust_excess(clicks - m, m * (1 - f.fitted), np.where(m > 0, m, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (clicks - m) / np.sqrt(m * (1 - f.fitted) + first[:, None, None] * m**2 + 0.25)
    keep = ~(np.abs(z) > _OUTLIER_Z)
    clicks, n_hist = np.where(keep, clicks, np.nan), np.where(keep, n_hist, np.nan)
    f = fit_rate(clicks, n_hist)
    m = n_hist * f.fitted
    own, sampling = excess(clicks - m, m, m * (1 - f.fitted), f)
    informative = nanmedian(n_hist.reshape(n_hist.shape[0], -1), axis=1) >= 100.0
    return DayFit(model, weeks, f.expected, _season(f), own, sampling, np.asarray(informative))


def _finish_rates(day: DayFit, shown: FloatArray, ctx: _Context) -> DayScores:
    own, sampling = day.own, day.sampling
    pool = ctx.fixed_pool if ctx.fixed_pool is not None else pooled(own, sampling, ctx.groups, day.informative)
    tau, tau_var = shrink(own, sampling, pool)
    tau = np.maximum(tau, 0.0)
    p0 = np.clip(day.expected, 1e-9, 1 - 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where(shown > 0, shown, np.nan)
        mean = n * p0
        var = (mean * (1 - p0) + tau * mean**2) * ctx.inflation
        sd_rate = np.sqrt(var) / n
        c = np.asarray(np.round(np.nan_to_num(ctx.observed * n)), dtype=np.float64)
    df = noise.dof(mean**2, tau_var, var)
    # a binomial's variance is a little below a Poisson's: the Poisson-log-normal is conservative
    p_low, p_high = _tails(c, np.nan_to_num(mean, nan=1.0), np.maximum(np.nan_to_num(var, nan=1.0), 1e-9), df)
    half = noise.t_isf(0.025, df) * sd_rate
    bad = np.isnan(ctx.observed) | np.isnan(day.expected) | np.isnan(n)
    return DayScores(
        observed=ctx.observed,
        expected=day.expected,
        lower=np.clip(day.expected - half, 0.0, 1.0),
        upper=np.clip(day.expected + half, 0.0, 1.0),
        p_low=np.where(bad, np.nan, np.minimum(p_low, 1.0)),
        p_high=np.where(bad, np.nan, np.minimum(p_high, 1.0)),
        pool=pool,
        sd=sd_rate,
        season=day.season,
    )


def _weight_ref(w_hist: FloatArray) -> FloatArray:
    """Each series' median weight over the window (positive weights only)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return nanmedian(np.where(w_hist > 0, w_hist, np.nan).reshape(w_hist.shape[0], -1), axis=1)


def _relative(w: FloatArray, ref: FloatArray) -> FloatArray:
    """A day's weight over the series' median weight, within the clip."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(np.nan_to_num(w / ref, nan=1.0), _MIN_WEIGHT, 1.0 / _MIN_WEIGHT)


def _fit_continuous(history: FloatArray, model: Model, weeks: int, *, w_hist: FloatArray | None = None) -> DayFit:
    ref: FloatArray | None = None
    rel_hist = np.ones(history.shape)
    if w_hist is not None:
        ref = _weight_ref(w_hist)
        rel_hist = _relative(w_hist, ref[:, None, None])

    def own_var(h: FloatArray, f: Fit) -> tuple[FloatArray, FloatArray]:
        # variance per unit weight: a day on twice the impressions counts twice as precise
        resid2 = (h - f.fitted) ** 2 * rel_hist * f.dof[:, None, None]
        var = nanmean(resid2.reshape(resid2.shape[0], -1), axis=1, min_count=2)
        floor = (1e-3 * np.abs(np.nan_to_num(f.expected))) ** 2 + 1e-12
        return np.log(np.maximum(var, floor)), 2.0 / np.maximum(f.n - f.weeks - 6, 1.0)  # log variance

    f = fit(history, multiplicative=False, robust=True, predict=False)
    resid = history - f.fitted
    first = robust_excess(resid, np.zeros_like(resid), np.ones_like(resid))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = resid / np.sqrt(np.maximum(first, 1e-12))[:, None, None]
    f = fit(np.where(np.abs(z) > _OUTLIER_Z, np.nan, history), multiplicative=False)
    own, sampling = own_var(np.where(np.abs(z) > _OUTLIER_Z, np.nan, history), f)
    return DayFit(model, weeks, f.expected, _season(f), own, sampling, np.asarray(f.n >= 14), ref)


def _finish_continuous(day: DayFit, ctx: _Context, weights: FloatArray | None) -> DayScores:
    rel_today = np.ones(day.expected.shape[0])
    if weights is not None and day.ref is not None:
        rel_today = _relative(weights, day.ref)
    own, sampling = day.own, day.sampling
    pool = ctx.fixed_pool if ctx.fixed_pool is not None else pooled(own, sampling, ctx.groups, day.informative)
    log_var, log_var_var = shrink(own, sampling, pool, floor=0.05)
    var = np.exp(log_var) * ctx.inflation / rel_today
    df = np.clip(2.0 / np.maximum(log_var_var, 1e-12), noise.DF_MIN, noise.DF_MAX)
    sd = np.sqrt(var)
    z_today = (ctx.observed - day.expected) / sd
    half = noise.t_isf(0.025, df) * sd
    return DayScores(
        observed=ctx.observed,
        expected=day.expected,
        lower=day.expected - half,
        upper=day.expected + half,
        p_low=np.asarray(special.stdtr(df, z_today), dtype=np.float64),
        p_high=np.asarray(special.stdtr(df, -z_today), dtype=np.float64),
        pool=pool,
        sd=sd,
        season=day.season,
    )
