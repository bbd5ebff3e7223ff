"""Expected values: weekday factors and weekly levels with a robust trend, per series.

History is cut into whole weeks ``(series, weeks, 7)``. Each series gets weekday factors
(median over weeks, so one bad week cannot move them) and a level per week; the level at
the scored day is a Theil-Sen line through the weekly levels, extrapolated — unless the
last 2-4 whole weeks all sit more than :data:`REBASE` off the line of the weeks before
them on one side (a step, not a trend): then the level is the median of the days surely
past the step (the last week; the last two when three or more weeks are off). A step
further back makes the whole line lean across it, so the extrapolated level may leave the
range of the last two weeks only as far as the last :data:`RECENT_WEEKS` weeks' own trend
carries it (plus half of :data:`REBASE`): a true trend keeps its extrapolation, a step
does not overshoot. For counts the level may also fall no more than half of :data:`REBASE`
below the median of itself, the last week carried to the day along the line and the mean
of the last two weeks: real traffic turns, and a decline extrapolated past a week that
turned back up predicts a level the series has left (an ordinary day at the recent level
would be a "spike"); a steady trend either way keeps its extrapolation. Counts are
multiplicative (``level x factor``), continuous metrics additive, rates (CTR) a ratio of
sums (clicks over impressions), so days without clicks are no problem.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jobs.domain import FloatArray

BoolArray = npt.NDArray[np.bool_]

__all__ = ["MIN_WEEKS", "REBASE", "RECENT_WEEKS", "Fit", "fit", "fit_rate", "nanmean", "nanmedian", "valid_count"]

#: Relative distance from the trend line of the weeks before at which the last weeks mean a new level.
REBASE = 0.15
#: The trend of this many last weeks bounds how far the level may leave their range.
RECENT_WEEKS = 4
#: Fewest whole weeks of history a baseline needs.
MIN_WEEKS = 3


def nanmedian(a: FloatArray, axis: int = -1) -> FloatArray:
    """Median along ``axis`` ignoring NaN (NaN where a slice is all NaN), without warnings.

    Slices without NaN take a shorter way to the same numbers: the same sort, and the middle
    positions of the full length instead of positions found from each slice's count."""
    moved = np.moveaxis(a, axis, -1)
    m = moved.shape[-1]
    nan = np.isnan(moved)
    if m == 0 or moved.size == 0:
        return _nanmedian_counted(moved, nan)
    if not nan.any():
        return _median_full(moved)
    holed = nan.any(axis=-1)
    if holed.all():
        return _nanmedian_counted(moved, nan)
    out = np.empty(moved.shape[:-1])
    out[~holed] = _median_full(moved[~holed])
    out[holed] = _nanmedian_counted(moved[holed], nan[holed])
    return out


def _median_full(moved: FloatArray) -> FloatArray:
    """The median along the last axis of slices without NaN."""
    m = moved.shape[-1]
    ordered = np.sort(moved, axis=-1)
    return np.asarray(0.5 * (ordered[..., (m - 1) // 2] + ordered[..., m // 2]), dtype=np.float64)


def _nanmedian_counted(moved: FloatArray, nan: BoolArray) -> FloatArray:
    """The median along the last axis ignoring NaN, from each slice's own count."""
    ordered = np.sort(moved, axis=-1)  # NaN sorts last
    n = np.sum(~nan, axis=-1)
    lo = np.clip((n - 1) // 2, 0, None)[..., None]
    hi = np.clip(n // 2, 0, None)[..., None]
    mid = 0.5 * (np.take_along_axis(ordered, lo, -1) + np.take_along_axis(ordered, hi, -1))[..., 0]
    return np.where(n > 0, mid, np.nan)


def valid_count(a: FloatArray, axis: int | tuple[int, ...]) -> npt.NDArray[np.int64]:
    """How many values along ``axis`` are not NaN."""
    return _count(np.isnan(a), axis)


def _count(nan: BoolArray, axis: int | tuple[int, ...]) -> npt.NDArray[np.int64]:
    if nan.any():
        return np.asarray(np.sum(~nan, axis=axis), dtype=np.int64)
    axes = {x % nan.ndim for x in ((axis,) if isinstance(axis, int) else axis)}
    kept = [size for i, size in enumerate(nan.shape) if i not in axes]
    return np.full(kept, int(np.prod([nan.shape[x] for x in axes])), dtype=np.int64)  # none is NaN: all count


def nanmean(a: FloatArray, axis: int | tuple[int, ...], min_count: int = 1) -> FloatArray:
    """Mean along ``axis`` ignoring NaN; NaN with fewer than ``min_count`` values."""
    nan = np.isnan(a)
    n = _count(nan, axis)
    # without NaN, the masked copy would hold the same numbers in the same layout: same sums
    total = (a if a.flags.c_contiguous and not nan.any() else np.where(nan, 0.0, a)).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= min_count, total / np.maximum(n, 1), np.nan)


@functools.cache
def _pairs(k: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    i, j = np.triu_indices(k, 1)
    return i, j


def _theil_sen(levels: FloatArray, centers: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per series, intercept and slope of a Theil-Sen line (slope 0 below :data:`MIN_WEEKS` weeks)."""
    i, j = _pairs(levels.shape[1])
    slopes = nanmedian((levels[:, j] - levels[:, i]) / (centers[j] - centers[i]), axis=1)
    slopes = np.nan_to_num(np.where(valid_count(levels, 1) >= MIN_WEEKS, slopes, 0.0))
    intercepts = nanmedian(levels - slopes[:, None] * centers[None, :], axis=1)
    return intercepts, slopes


def _level_at(
    levels: FloatArray, centers: FloatArray, at: float, daily: FloatArray, *, hedged: bool = False
) -> FloatArray:
    """Each series' level at day ``at`` (see the module docstring). ``daily`` holds the days
    without their weekday (S, K, 7): after a step, the new level is the median of the days
    surely past it (the last week; the last two once three weeks are off). ``hedged`` (counts):
    without a step, the level is at least the median of the line's, the last week's carried
    along it and the last two weeks' mean, less half of :data:`REBASE`."""
    k = levels.shape[1]
    intercepts, slopes = _theil_sen(levels, centers)
    out = intercepts + slopes * at
    # a step shows as the last two weeks off the whole line too: only those series are examined
    line = intercepts[:, None] + slopes[:, None] * centers[None, -2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        off = (levels[:, -2:] - line) / np.abs(line)
    maybe = np.flatnonzero((off > REBASE / 2).all(axis=1) | (off < -REBASE / 2).all(axis=1))
    done = np.zeros(levels.shape[0], dtype=np.bool_)
    sub = levels[maybe]
    for recent in (4, 3, 2):
        first = k - recent
        if first < MIN_WEEKS or maybe.size == 0:
            continue
        ic, sl = _theil_sen(sub[:, :first], centers[:first])
        base = ic[:, None] + sl[:, None] * centers[None, first:]
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (sub[:, first:] - base) / np.abs(base)
            step = ((rel > REBASE).all(axis=1) | (rel < -REBASE).all(axis=1)) & np.isfinite(rel).all(axis=1)
        step &= ~done[maybe]
        if not step.any():
            continue
        past = daily[maybe][:, -2 if recent >= 3 else -1 :, :].reshape(maybe.size, -1)
        new = nanmedian(past, axis=1)
        out[maybe[step]] = np.where(np.isfinite(new[step]), new[step], out[maybe[step]])
        done[maybe[step]] = True
    # a step further back: the whole line leans across it and, extrapolated, overshoots the new
    # level. The level may leave the range of the last two weeks only as far as the last
    # weeks' own trend carries it (a true trend keeps its extrapolation; a step does not).
    if k >= RECENT_WEEKS + 2:
        _, sl = _theil_sen(levels[:, -RECENT_WEEKS:], centers[-RECENT_WEEKS:])
        reach = np.abs(sl) * (at - centers[-1])
        with np.errstate(invalid="ignore"):
            lo = np.fmin(levels[:, -1], levels[:, -2]) * (1 - REBASE / 2) - reach
            hi = np.fmax(levels[:, -1], levels[:, -2]) * (1 + REBASE / 2) + reach
            clipped = np.clip(out, lo, hi)
        out = np.where(~done & np.isfinite(clipped), clipped, out)
    if hedged:
        # real traffic turns: a decline extrapolated past weeks that turned back up predicts a
        # level the series has left. The median of the line, the last week carried to the day
        # along it, and the mean of the last two weeks: on a steady trend the first two agree,
        # after a turn the last weeks outvote the line. Only ever raised (an erosion going on
        # stays as visible as it was), and only when well below (not week-to-week noise)
        with np.errstate(invalid="ignore"):
            last = levels[:, -1] + slopes * (at - centers[-1])
            two = nanmean(levels[:, -2:], axis=1)
            mid = nanmedian(np.stack([out, last, two], axis=1), axis=1) * (1 - REBASE / 2)
        out = np.where(~done & (mid > out), mid, out)
    return out


@dataclass(frozen=True)
class Fit:
    expected: FloatArray  # (S,) at the scored day; NaN without enough history
    fitted: FloatArray  # (S, K, 7) in-sample
    n: FloatArray  # valid history points per series
    weeks: int
    #: the scored day's weekday factor (multiplicative) or offset (additive): expected = level x/+ season
    season: FloatArray | None = None

    @property
    def dof(self) -> FloatArray:
        """Residual degrees-of-freedom correction n / (n - parameters), per series."""
        params = self.weeks + 6.0
        return np.asarray(np.where(self.n > params + 2, self.n / np.maximum(self.n - params, 1.0), 3.0))


def _week_level(values: FloatArray, *, robust: bool) -> FloatArray:
    """Each week's level from at least 4 of its days: the median (robust) or the mean."""
    if not robust:
        return nanmean(values, axis=2, min_count=4)
    return np.where(valid_count(values, 2) >= 4, nanmedian(values, axis=2), np.nan)


def fit(history: FloatArray, *, multiplicative: bool, robust: bool = False, predict: bool = True) -> Fit:
    """Weekday factors and weekly levels of ``history`` (S, K, 7); ``robust``: weekly medians
    (a few bad days cannot move them); ``predict``: also the expected value after the history."""
    k = history.shape[1]
    level = _week_level(history, robust=robust)
    with np.errstate(invalid="ignore", divide="ignore"):
        if multiplicative:
            factor = nanmedian(history / level[:, :, None], axis=1)
            factor = np.where(np.isfinite(factor), factor, 1.0)
            factor = factor / np.where(factor.mean(axis=1) > 0, factor.mean(axis=1), 1.0)[:, None]
            safe = np.where(factor > 0, factor, np.nan)
            level = _week_level(history / safe[:, None, :], robust=robust)
            fitted = level[:, :, None] * factor[:, None, :]
        else:
            factor = np.nan_to_num(nanmedian(history - level[:, :, None], axis=1))
            factor = factor - factor.mean(axis=1)[:, None]
            level = _week_level(history - factor[:, None, :], robust=robust)
            fitted = level[:, :, None] + factor[:, None, :]
    n = valid_count(history - fitted, (1, 2)).astype(np.float64)
    if not predict:
        return Fit(np.full(history.shape[0], np.nan), fitted, n, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = history / factor[:, None, :] if multiplicative else history - factor[:, None, :]
    at = _level_at(level, np.arange(k, dtype=np.float64) * 7.0 + 3.0, float(k * 7), daily, hedged=multiplicative)
    expected = np.maximum(at, 0.0) * factor[:, 0] if multiplicative else at + factor[:, 0]
    enough = valid_count(level, 1) >= MIN_WEEKS
    return Fit(np.where(enough, expected, np.nan), fitted, n, k, factor[:, 0])


def fit_rate(clicks: FloatArray, shown: FloatArray, *, predict: bool = True) -> Fit:
    """Rates as ratios of sums: weekly clicks / impressions, weekday factors likewise."""
    k = clicks.shape[1]
    days = valid_count(clicks, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(days >= 4, np.nansum(clicks, axis=2) / np.nansum(shown, axis=2), np.nan)
        base = np.where(np.isnan(clicks), np.nan, shown * level[:, :, None])
        factor = np.nansum(clicks, axis=1) / np.nansum(base, axis=1)
        factor = np.where(np.isfinite(factor) & (factor > 0), factor, 1.0)
        factor = factor / factor.mean(axis=1)[:, None]
        level = np.where(days >= 4, np.nansum(clicks, axis=2) / np.nansum(shown * factor[:, None, :], axis=2), np.nan)
    fitted = np.clip(level[:, :, None] * factor[:, None, :], 0.0, 1.0)
    n = valid_count(clicks - fitted, (1, 2)).astype(np.float64)
    if not predict:
        return Fit(np.full(clicks.shape[0], np.nan), fitted, n, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = clicks / (shown * factor[:, None, :])
    at = _level_at(level, np.arange(k, dtype=np.float64) * 7.0 + 3.0, float(k * 7), daily)
    enough = valid_count(level, 1) >= MIN_WEEKS
    return Fit(np.where(enough, np.clip(at * factor[:, 0], 0.0, 1.0), np.nan), fitted, n, k, factor[:, 0])
