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

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import special

from jobs.domain import FloatArray

#: Runs ``part(a, b)`` over blocks ``[a, b)`` covering ``range(n)`` (on threads or not).
Spread = Callable[[Callable[[int, int], None], int], None]

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


def pln_tails(
    k: FloatArray, mu: FloatArray, alpha: FloatArray, *, spread: Spread | None = None
) -> tuple[FloatArray, FloatArray]:
    """Mid-p tails P(Y <= k) and P(Y >= k) of the Poisson-log-normal (see module doc).

    ``spread(part, n)`` may run ``part(a, b)`` over blocks of the ``n`` quadrature rows on
    threads: each block fills its own rows of the node matrices, which are then summed in
    one matrix product, so a row's tails are the same however the rows were cut."""
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
        below, above = np.empty(lam.shape), np.empty(lam.shape)

        def part(a: int, b: int) -> None:
            pmf = np.exp(kk[a:b] * np.log(lam[a:b]) - lam[a:b] - special.gammaln(kk[a:b] + 1.0))
            below[a:b] = special.pdtr(kk[a:b], lam[a:b]) - 0.5 * pmf
            above[a:b] = special.pdtrc(kk[a:b], lam[a:b]) + 0.5 * pmf

        if spread is None:
            part(0, lam.shape[0])
        else:
            spread(part, lam.shape[0])
        low[small] = below @ _GH_W
        high[small] = above @ _GH_W
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def approx_tails(k: FloatArray, mu: FloatArray, var: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Cheap normal tails on a square-root scale (a screen for which rows need exact ones)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.sqrt(np.maximum(k, 0.0) + 0.375) - np.sqrt(np.maximum(mu, 0.0) + 0.375)) / np.sqrt(
            var / (4.0 * np.maximum(mu, 0.5))
        )
    return norm_sf(-z), norm_sf(z)


def pln_interval(mu: FloatArray, alpha: FloatArray, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """The central ``level`` interval of the Poisson-log-normal (integers).

    Each bound is the smallest integer ``m`` in ``[0, cap]`` whose cdf reaches its quantile
    (``cap``: far beyond any quantile; a row without an expectation gets 0). The search
    starts where the quadrature's mixture with each Poisson taken as a normal reaches the
    quantile (a few safeguarded Newton steps of cheap normal cdfs; at most a step or two
    off), gallops away from there until the answer is bracketed, then bisects: the costly
    Poisson cdfs are evaluated a handful of times instead of once per bit of ``cap``."""
    lam = _rates(mu, alpha)
    cap = np.ceil(np.nan_to_num(mu * (1.0 + 12.0 * np.sqrt(np.maximum(alpha, 0.0))) + 12.0 * np.sqrt(mu) + 10.0))
    out = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        guess = np.clip(np.nan_to_num(np.ceil(_normal_mixture_quantile(lam, q))), 0.0, cap)
        out.append(_first_reaching(lam, q, guess, cap))
    return out[0], out[1]


def _normal_mixture_quantile(lam: FloatArray, q: float, steps: int = 4) -> FloatArray:
    """Per row, where the mixture of normals N(lam, lam) (continuity-corrected, weights
    :data:`_GH_W`) reaches ``q``: Newton from the nodes' own quantile, kept inside a bracket."""
    sd = np.sqrt(lam + 0.25)
    low = lam[:, 0] - 8.0 * sd[:, 0] - 2.0
    high = lam[:, -1] + 8.0 * sd[:, -1] + 2.0
    x = lam[:, min(int(np.searchsorted(np.cumsum(_GH_W), q)), lam.shape[1] - 1)].copy()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(steps):
            z = (x[:, None] + 0.5 - lam) / sd
            cdf = special.ndtr(z) @ _GH_W
            density = (np.exp(-0.5 * z * z) / sd) @ _GH_W * 0.3989422804014327
            below = cdf < q
            low, high = np.where(below, x, low), np.where(below, high, x)
            step = x - (cdf - q) / density
            x = np.where((step >= low) & (step <= high), step, 0.5 * (low + high))
    return x


def _first_reaching(lam: FloatArray, q: float, start: FloatArray, cap: FloatArray) -> FloatArray:
    """Per row, the smallest integer ``m`` in ``[0, cap]`` whose Poisson-mixture cdf (rates
    ``lam``, weights :data:`_GH_W`) is at least ``q`` (``cap`` if none), searched from ``start``."""
    n = lam.shape[0]
    cdf = np.zeros(lam.shape)

    def reached(rows: npt.NDArray[np.intp], m: FloatArray) -> npt.NDArray[np.bool_]:
        cdf[rows] = special.pdtr(m[:, None], lam[rows])
        return np.asarray((cdf @ _GH_W)[rows] >= q)

    # bracket: lo <= answer <= hi, found by galloping from ``start`` (steps 1, 2, 4, ...)
    lo, hi = np.zeros(n), cap.copy()
    rows = np.flatnonzero(start < cap)  # a start at the cap leaves [0, cap] to bisect
    up = ~reached(rows, start[rows])
    lo[rows[up]] = start[rows[up]] + 1.0
    hi[rows[~up]] = start[rows[~up]]
    step, sign = np.ones(rows.size), np.where(up, 1.0, -1.0)
    while rows.size:
        probe = start[rows] + sign * step
        inside = np.where(sign > 0, probe < hi[rows], probe >= lo[rows])
        rows, probe, step, sign = rows[inside], probe[inside], step[inside], sign[inside]
        if not rows.size:
            break
        hit = reached(rows, probe)
        rising = sign > 0
        lo[rows[rising & ~hit]] = probe[rising & ~hit] + 1.0
        hi[rows[rising & hit]] = probe[rising & hit]
        lo[rows[~rising & ~hit]] = probe[~rising & ~hit] + 1.0
        hi[rows[~rising & hit]] = probe[~rising & hit]
        going = np.where(rising, ~hit, hit)  # not yet past the answer
        rows, step, sign = rows[going], step[going] * 2.0, sign[going]
    # bisect within the brackets
    while True:
        rows = np.flatnonzero(lo < hi)
        if not rows.size:
            return hi
        mid = np.floor((lo[rows] + hi[rows]) / 2.0)
        hit = reached(rows, mid)
        lo[rows[~hit]] = mid[~hit] + 1.0
        hi[rows[hit]] = mid[hit]


def bh(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values) of ``p`` (finite, one family)."""
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out
