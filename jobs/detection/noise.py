"""Tail probabilities and intervals of the noise models, with :mod:`scipy.special` only.

- Counts: a Poisson whose rate is the expectation times a mean-one log-normal with
  relative variance ``alpha`` (``var = mu + alpha mu^2``). Web traffic moves by
  multiplicative shocks; their upper tail is heavier than the gamma of a negative
  binomial with the same variance would have it. Tails are integrated over the
  log-normal by Gauss-Hermite quadrature (mid-p for the discreteness).
- Small samples: tails are re-read on a t distribution whose degrees of freedom say how
  precisely the noise itself is known (:func:`t_tails`, :func:`dof`).
- Multiple testing: :func:`bh` is the Benjamini-Hochberg adjustment (the same numbers as
  ``scipy.stats.false_discovery_control(p, method="bh")``; kept here so that detecting a
  file does not pay for importing all of ``scipy.stats``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from jobs.domain import FloatArray

__all__ = [
    "DF_MAX",
    "DF_MIN",
    "approx_tails",
    "bh",
    "dof",
    "norm_isf",
    "norm_sf",
    "pln_interval",
    "pln_tails",
    "t_isf",
    "t_tails",
]

DF_MIN, DF_MAX = 4.0, 1e4
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(32)
_GH_W = _GH_W / _GH_W.sum()
#: From this expected count on, Poisson noise is a small, smooth part of the whole and the
#: tails are those of a log-normal with the Poisson variance added on the log scale
#: (quadrature over a near-step function would be less accurate there, and slower).
_SMOOTH = 3000.0


def norm_sf(z: FloatArray | float) -> FloatArray:
    return np.asarray(special.ndtr(-np.asarray(z, dtype=np.float64)), dtype=np.float64)


def norm_isf(p: FloatArray | float) -> FloatArray:
    """z with upper tail ``p`` (accurate for tiny ``p``)."""
    return np.asarray(-special.ndtri(np.clip(np.asarray(p, dtype=np.float64), 1e-300, 1.0)), dtype=np.float64)


def t_isf(p: float, df: FloatArray) -> FloatArray:
    return np.asarray(special.stdtrit(df, 1.0 - p), dtype=np.float64)


def t_tails(p_low: FloatArray, p_high: FloatArray, df: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normal-scale tail probabilities re-read on a t distribution with ``df`` (heavier tails)."""
    with np.errstate(invalid="ignore"):
        low = special.stdtr(df, -norm_isf(p_low))
        high = special.stdtr(df, -norm_isf(p_high))
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def dof(known_part: FloatArray, variance_of_known: FloatArray, total: FloatArray) -> FloatArray:
    """Degrees of freedom of a variance ``total`` whose estimated ``known_part`` has the
    sampling variance ``variance_of_known`` (Satterthwaite: 2 / CV^2)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        df = 2.0 * total**2 / (variance_of_known * known_part**2)
    return np.asarray(np.clip(np.nan_to_num(df, nan=DF_MAX, posinf=DF_MAX), DF_MIN, DF_MAX))


def _rates(mu: FloatArray, alpha: FloatArray) -> FloatArray:
    s2 = np.log1p(np.maximum(np.nan_to_num(alpha), 0.0))
    return np.asarray(
        np.maximum(mu, 1e-9)[:, None] * np.exp(np.sqrt(s2)[:, None] * _GH_X[None, :] - 0.5 * s2[:, None]),
        dtype=np.float64,
    )


def pln_tails(k: FloatArray, mu: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mid-p tails P(Y <= k) and P(Y >= k) of the Poisson-log-normal (see module doc)."""
    low = np.empty(k.shape)
    high = np.empty(k.shape)
    big = mu >= _SMOOTH
    if big.any():
        s2 = np.log1p(np.maximum(alpha[big], 0.0)) + 1.0 / mu[big]
        z = (np.log(np.maximum(k[big], 0.5)) - np.log(mu[big]) + 0.5 * np.log1p(np.maximum(alpha[big], 0.0))) / np.sqrt(
            s2
        )
        low[big], high[big] = norm_sf(-z), norm_sf(z)
    small = ~big
    if small.any():
        lam = _rates(mu[small], alpha[small])
        kk = k[small][:, None]
        pmf = np.exp(kk * np.log(lam) - lam - special.gammaln(kk + 1.0))
        low[small] = (special.pdtr(kk, lam) - 0.5 * pmf) @ _GH_W
        high[small] = (special.pdtrc(kk, lam) + 0.5 * pmf) @ _GH_W
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def approx_tails(k: FloatArray, mu: FloatArray, var: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Cheap normal tails on a square-root scale (a screen for which rows need exact ones)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.sqrt(np.maximum(k, 0.0) + 0.375) - np.sqrt(np.maximum(mu, 0.0) + 0.375)) / np.sqrt(
            var / (4.0 * np.maximum(mu, 0.5))
        )
    return norm_sf(-z), norm_sf(z)


def pln_interval(mu: FloatArray, alpha: FloatArray, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """The central ``level`` interval of the Poisson-log-normal (integers), by bisection."""
    lam = _rates(mu, alpha)
    out = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        lo = np.zeros(mu.size)
        hi = np.ceil(np.nan_to_num(mu * (1.0 + 12.0 * np.sqrt(np.maximum(alpha, 0.0))) + 12.0 * np.sqrt(mu) + 10.0))
        cdf = np.zeros(lam.shape)
        for _ in range(int(np.ceil(np.log2(max(float(np.nanmax(hi, initial=1.0)), 2.0)))) + 1):
            # a row whose bounds have met is done (its hi cannot move again): the costly cdf is
            # evaluated for the others only, in place, so each row's sum is taken as before
            live = lo < hi
            if not live.any():
                break
            mid = np.floor((lo + hi) / 2.0)
            cdf[live] = special.pdtr(mid[live, None], lam[live])
            below = (cdf @ _GH_W) < q
            lo = np.where(live & below, mid + 1.0, lo)
            hi = np.where(live & ~below, mid, hi)
        out.append(hi)
    return out[0], out[1]


def bh(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values) of ``p`` (finite, one family)."""
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out
