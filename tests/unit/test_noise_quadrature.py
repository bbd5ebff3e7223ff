"""The Poisson-log-normal's quadrature: the interval's search from a guess finds the very
bounds a plain bisection over ``[0, cap]`` finds, for every row, however far off the guess
is; the tails are the same numbers however their rows are cut into blocks."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from scipy import special

from jobs.detection import noise


def _bisected(mu: np.ndarray, alpha: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The reference: bisection over [0, cap], every row's cdf summed in one matrix."""
    lam = noise._rates(mu, alpha)
    out = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        lo = np.zeros(mu.size)
        hi = np.ceil(np.nan_to_num(mu * (1.0 + 12.0 * np.sqrt(np.maximum(alpha, 0.0))) + 12.0 * np.sqrt(mu) + 10.0))
        cdf = np.zeros(lam.shape)
        for _ in range(80):
            live = lo < hi
            if not live.any():
                break
            mid = np.floor((lo + hi) / 2.0)
            cdf[live] = special.pdtr(mid[live, None], lam[live])
            below = (cdf @ noise._GH_W) < q
            lo = np.where(live & below, mid + 1.0, lo)
            hi = np.where(live & ~below, mid, hi)
        out.append(hi)
    return out[0], out[1]


def test_interval_equals_bisection_over_the_whole_range() -> None:
    rng = np.random.default_rng(11)
    mu = np.exp(rng.uniform(-3.0, 15.0, 4000))
    alpha = np.exp(rng.uniform(-9.0, 1.5, 4000))
    mu[:4], alpha[4:7], mu[7], alpha[8], alpha[9] = np.nan, np.nan, 0.0, 0.0, -0.2
    for level in (0.95, 0.8, 0.99):
        got, want = noise.pln_interval(mu, alpha, level), _bisected(mu, alpha, level)
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1])


def test_interval_is_the_first_count_whose_cdf_reaches_the_quantile() -> None:
    mu = np.array([0.3, 2.0, 7.5, 40.0, 250.0])
    alpha = np.array([0.0, 0.5, 0.05, 1.0, 0.2])
    lower, upper = noise.pln_interval(mu, alpha)
    lam = noise._rates(mu, alpha)
    for row in range(mu.size):
        cdf = special.pdtr(np.arange(5000.0)[:, None], lam[row][None, :]) @ noise._GH_W
        assert lower[row] == np.flatnonzero(cdf >= 0.025)[0]
        assert upper[row] == np.flatnonzero(cdf >= 0.975)[0]
    assert np.all(lower <= np.floor(mu))
    assert np.all(upper >= np.ceil(mu))


def test_interval_of_no_rows() -> None:
    lower, upper = noise.pln_interval(np.array([]), np.array([]))
    assert lower.shape == upper.shape == (0,)


def test_tails_are_the_same_however_the_rows_are_cut() -> None:
    rng = np.random.default_rng(5)
    mu = np.exp(rng.uniform(-2.0, 9.0, 5000))
    alpha = np.exp(rng.uniform(-8.0, 1.0, 5000))
    k = np.round(mu * np.exp(rng.normal(0.0, 0.5, 5000)))
    whole = noise.pln_tails(k, mu, alpha)
    cuts: list[tuple[int, int]] = []

    def uneven(part: Callable[[int, int], None], n: int) -> None:
        edges = [0, 1, 7, 1000, 1001, n]
        for a, b in itertools.pairwise(edges):
            cuts.append((a, b))
            part(a, b)

    cut = noise.pln_tails(k, mu, alpha, spread=uneven)
    assert cuts[-1][1] == int((mu < 3000.0).sum())
    assert np.array_equal(whole[0], cut[0])
    assert np.array_equal(whole[1], cut[1])
