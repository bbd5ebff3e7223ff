"""Slow changes, and whether a change that lasts was ever announced.

- **CUSUM.** Per series and direction, the one-sided CUSUM ``S_t = max(0, S_{t-1} + min(z_t,
  CAP) - K)`` of the day's standardised residual ``z_t`` (its one-sided tail against that
  day's own baseline as a normal quantile, so a rate is judged in its denominator: CTR in
  its impressions), started at 0 :data:`WINDOW` days back. It *fires* on a day that is
  itself clearly off (materially, one-sided p < 0.01) when ``S`` first exceeds ``h``
  (``cusum_threshold``) in the window, and the last :data:`RECENT` days alone carry at
  least :data:`RECENT_SHARE` of ``h`` (the change is going on now). A 40% erosion over two
  weeks on a series whose ordinary days swing ±20% has no day significant on its own; the
  sum of its days is. ``K`` and ``h`` were calibrated on the tuning half of the real-traffic
  series: on their ordinary days it fires about 0.3 times per series-year.
- **Announced.** A series off the same way for several days is an *ongoing* change, quiet
  until it moves again, only if it was announced: in the :data:`ANNOUNCED` days before,
  a day significant on its own (one-sided tail below ``max_p_value``, two-sided halved, and
  material), three off days whose combined evidence passed the level-shift bar
  (:func:`combined_z`), or a CUSUM firing. A change never announced (each day only
  loosely off while the baseline crept after it) is news when a day or the CUSUM says so;
  a day significant today must also be further off than each of the 3 days before (the
  change deepening, not a level merely holding), and a product metric moving with its
  volume factor (clicks with impressions, keyEvents with sessions) is left to the factor.

Past days are scored with today's pooled noise parameters, for the few candidate rows only
(their fits are shared with the runs of days), so a day is decided alike alone or in a walk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from jobs.detection import noise
from jobs.detection.params import DirectionFilter
from jobs.detection.runs import CLEAR, z_scores
from jobs.detection.scorer import Scorer
from jobs.detection.stats import MEAN_ERROR, MIN_WEEKS, DayScores, IntArray
from jobs.domain import FloatArray

__all__ = ["ANNOUNCED", "WINDOW", "History", "combined_z", "cusum_fires"]

BoolArray = npt.NDArray[np.bool_]
#: Reference value: a day adds to the sum only what its z-score has beyond this.
K = 1.25
#: A day's z-score counts at most this much (a burst is the day test's business).
CAP = 3.0
#: Days the sum runs over, today included.
WINDOW = 21
#: The newest days that must carry :data:`RECENT_SHARE` of the threshold on their own.
RECENT = 8
RECENT_SHARE = 1.0 / 3.0
#: Days before today in which an earlier announcement makes a lasting change ongoing.
ANNOUNCED = 21
_CLEAR_Z = float(noise.norm_isf(CLEAR))
#: The three-day test's bar is this much stricter than one day's (see jobs.detection.decide).
RUN_STRICTER = 0.1


def combined_z(scorer: Scorer, col: int, z0: FloatArray, z1: FloatArray, z2: FloatArray) -> FloatArray:
    """Three days' one-sided z-scores combined (Stouffer), the baseline's shared error allowed
    for: the mean of their z-scores has variance ``(1/3 + c) / (1 + c)``, ``c`` the
    baseline's share of one day's variance."""
    c = MEAN_ERROR / max(min(scorer.mp.training_days, col) // 7, MIN_WEEKS)
    return np.asarray((z0 + z1 + z2) / 3.0 / np.sqrt((1.0 / 3.0 + c) / (1.0 + c)))


def cusum_fires(z: FloatArray, clear: BoolArray, h: float) -> BoolArray:
    """Per row of ``z`` (rows x days, oldest first, the day judged last): does the CUSUM of
    the last :data:`WINDOW` days fire on the last day (see the module docstring)?"""
    n, days = z.shape
    x = np.minimum(np.nan_to_num(z), CAP) - K
    total = np.zeros(n)
    before = np.zeros(n, dtype=np.bool_)
    recent = np.zeros(n)
    for t in range(max(0, days - WINDOW), days):
        total = np.maximum(0.0, total + x[:, t])
        if t < days - 1:
            before |= total > h  # crossed on an earlier day of the window already
        if t >= days - RECENT:
            recent = np.maximum(0.0, recent + x[:, t])
    return np.asarray(clear[:, -1] & (total > h) & ~before & (recent >= RECENT_SHARE * h))


class History:
    """One-sided z-scores and off flags of ``rows`` on the days before ``col``, the ``up`` way,
    looked up lazily (:meth:`back`), with today's from ``today``."""

    def __init__(
        self,
        scorer: Scorer,
        col: int,
        rows: IntArray,
        today: DayScores,
        *,
        up: BoolArray,
        known: tuple[list[FloatArray], list[BoolArray]] = ([], []),
    ) -> None:
        """``known``: the z-scores and off flags of ``rows`` (the ``up`` way) on the days
        before ``col``, newest first, as far as they were already looked up."""
        self.scorer, self.col, self.rows, self.up = scorer, col, rows, up
        self.pool = today.pool.take(rows)
        tail = np.where(up, today.p_high[rows], today.p_low[rows])
        moved = np.where(up, scorer.off(today, col, True)[rows], scorer.off(today, col, False)[rows])
        self.z: list[FloatArray] = [z_scores(tail), *known[0]]  # newest first
        self.off: list[BoolArray] = [np.asarray(moved), *known[1]]

    def back(self, days: int) -> tuple[FloatArray, BoolArray]:
        """(z, off), rows x days, oldest first, ending today; days before the data are 0/False."""
        while len(self.z) < days + 1 and self.col - len(self.z) >= 0:
            c = self.col - len(self.z)
            s = self.scorer.rows_at(c, self.rows, self.pool)
            up, down = self.scorer.off(s, c, True, self.rows), self.scorer.off(s, c, False, self.rows)
            self.z.append(np.where(self.up, z_scores(s.p_high), z_scores(s.p_low)))
            self.off.append(np.where(self.up, up, down))
        z = np.zeros((self.rows.size, days + 1))
        off = np.zeros((self.rows.size, days + 1), dtype=np.bool_)
        have = min(len(self.z), days + 1)
        z[:, days + 1 - have :] = np.stack(self.z[:have][::-1], axis=1)
        off[:, days + 1 - have :] = np.stack(self.off[:have][::-1], axis=1)
        return z, off

    def fires(self, h: float) -> BoolArray:
        """Does the CUSUM fire today (cheaply screened on the newest days first)?"""
        out = np.zeros(self.rows.size, dtype=np.bool_)
        if h <= 0:
            return out
        z, off = self.back(RECENT - 1)
        live = np.flatnonzero(_recent_sum(z) >= RECENT_SHARE * h)
        if live.size:
            z, off = self.back(WINDOW - 1)
            clear = off & (z > _CLEAR_Z)
            out[live] = cusum_fires(z[live], clear[live], h)
        return out

    def announced(self, h: float) -> BoolArray:
        """Was each row's change announced in the :data:`ANNOUNCED` days before today?"""
        both = self.scorer.mp.direction is DirectionFilter.BOTH
        max_p = self.scorer.max_p[self.rows]
        one = noise.norm_isf(max_p / (2.0 if both else 1.0))
        three = noise.norm_isf(max_p * RUN_STRICTER / (2.0 if both else 1.0))
        # the days already looked up first: a day significant on its own settles it
        z, off = self.back(min(len(self.z) - 1, ANNOUNCED))
        out: BoolArray = np.asarray(np.any(off[:, :-1] & (z[:, :-1] >= one[:, None]), axis=1), dtype=np.bool_)
        if out.all():
            return out
        z, off = self.back(ANNOUNCED + WINDOW - 1)
        days = z.shape[1]
        clear = off & (z > _CLEAR_Z)
        for t in range(days - 1 - ANNOUNCED, days - 1):
            out |= off[:, t] & (z[:, t] >= one)
            if t >= 2:
                run = clear[:, t] & off[:, t - 1] & off[:, t - 2]
                col = self.col - (days - 1 - t)
                out |= run & (combined_z(self.scorer, col, z[:, t], z[:, t - 1], z[:, t - 2]) >= three)
            if h > 0:
                out |= cusum_fires(z[:, : t + 1], clear[:, : t + 1], h)
        return out


def _recent_sum(z: FloatArray) -> FloatArray:
    """The CUSUM over the newest :data:`RECENT` columns of ``z`` alone."""
    x = np.minimum(np.nan_to_num(z[:, -RECENT:]), CAP) - K
    total = np.zeros(z.shape[0])
    for t in range(x.shape[1]):
        total = np.maximum(0.0, total + x[:, t])
    return total
