"""Noise parameters per series: outlier-proof first guesses, moment estimates, and the
empirical-Bayes pooling of a series' estimate with its group's (see :mod:`jobs.detection.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jobs.detection.baseline import Fit, nanmedian, valid_count
from jobs.domain import FloatArray

__all__ = ["Pool", "excess", "pooled", "robust_excess", "shrink"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Pool:
    """Per series: the group's central noise parameter and the spread of the true
    parameters around it (what empirical-Bayes shrinkage needs)."""

    center: FloatArray
    between: FloatArray

    def take(self, rows: IntArray) -> Pool:
        return Pool(self.center[rows], self.between[rows])


def pooled(per_series: FloatArray, sampling: FloatArray, groups: IntArray, informative: BoolArray) -> Pool:
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


def shrink(own: FloatArray, sampling: FloatArray, pool: Pool, *, floor: float = 1e-12) -> tuple[FloatArray, FloatArray]:
    """Empirical-Bayes estimate and its variance (precision-weighted own and group)."""
    center = np.nan_to_num(pool.center)
    between = np.where(np.isfinite(pool.between), np.maximum(pool.between, floor), floor)
    w_own = np.where(np.isfinite(own) & np.isfinite(sampling), 1.0 / np.maximum(sampling, 1e-18), 0.0)
    w_pool = 1.0 / between
    return (w_own * np.nan_to_num(own) + w_pool * center) / (w_own + w_pool), 1.0 / (w_own + w_pool)


def robust_excess(resid: FloatArray, base_var: FloatArray, scale: FloatArray) -> FloatArray:
    """A first-pass, outlier-proof extra variance per series: the squared MAD of ``resid /
    scale`` less the median of ``base_var / scale^2`` (what Poisson or binomial noise explains)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = (resid / scale).reshape(resid.shape[0], -1)
        center = nanmedian(rel, axis=1)
        mad = 1.4826 * nanmedian(np.abs(rel - center[:, None]), axis=1)
        floor = nanmedian((base_var / scale**2).reshape(resid.shape[0], -1), axis=1)
    return np.asarray(np.maximum(np.nan_to_num(mad**2 - floor), 0.0), dtype=np.float64)


def excess(resid: FloatArray, mean: FloatArray, base: FloatArray, f: Fit) -> tuple[FloatArray, FloatArray]:
    """Moment estimate of the relative extra variance ``(var - base) / mean^2`` per series
    from the residuals ``resid`` (NaN: no point), and its approximate sampling variance."""
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = ~np.isnan(resid)
        # without a missing point, the masked copies would hold the same numbers in the same
        # layout (C order): summed as they are, the totals are the same
        whole = bool(valid.all()) and base.flags.c_contiguous

        def kept(x: FloatArray) -> FloatArray:
            return x if whole and x.flags.c_contiguous and x.shape == valid.shape else np.where(valid, x, 0.0)

        m2 = kept(mean * mean).sum(axis=(1, 2))
        excess = kept(resid * resid * f.dof[:, None, None] - base).sum(axis=(1, 2))
        own = excess / m2
        # sampling variance 2 sum(var_t^2) / m2^2, with each day's variance taken at the typical mean
        n = valid_count(resid, (1, 2))
        typical = np.sqrt(m2 / np.maximum(n, 1))
        base_typical = kept(base).sum(axis=(1, 2)) / np.maximum(n, 1)
        var_t = base_typical + np.maximum(own, 0.005) * typical**2
        sampling = 2.0 * n * var_t**2 / m2**2
    return np.where(m2 > 0, own, np.nan), np.where(m2 > 0, sampling, np.nan)
