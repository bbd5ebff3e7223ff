"""Runs of days: was a series already off on the days before the one being decided?

Level shifts (off three days running), ongoing shifts (off on most recent days: 2 of the
last 3, or clearly off on :data:`ONGOING` of the last :data:`RECENT` days, as a shifted
level drifts in and out of significance) and new moves beyond an ongoing shift are told
apart here (see :mod:`jobs.detection.decide`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from jobs.detection import noise
from jobs.detection.params import DirectionFilter
from jobs.detection.scorer import Scorer
from jobs.detection.stats import DayScores, IntArray, Model
from jobs.domain import FloatArray

__all__ = ["Runs", "z_scores"]

BoolArray = npt.NDArray[np.bool_]
#: How far back runs look for three observed days (gaps are skipped).
_LOOKBACK = 6
#: The recent calendar days in which a series off the same way on :data:`ONGOING` or more
#: is in a shifted regime: a day off again is not news (unless beyond the regime's level).
RECENT = 7
ONGOING = 3
CLEAR = 0.01
#: Three days at one level: none more than this many times another.
STEADY = 2.0
_CLEAR_Z = float(noise.norm_isf(CLEAR))


def z_scores(p: FloatArray) -> FloatArray:
    return noise.norm_isf(np.nan_to_num(p, nan=0.5))


class Runs:
    """Were ``rows`` off (and how far, as z) on each of the 3 observed days before ``col``?

    Days without a value (a gap in the data) are skipped, looking back up to
    :data:`_LOOKBACK` days, so that a missing day neither breaks nor starts a run.
    """

    def __init__(self, scorer: Scorer, col: int, rows: IntArray, today: DayScores) -> None:
        self.rows = rows
        pool = today.pool.take(rows)
        multiplicative = scorer.model is not Model.CONTINUOUS
        off: dict[bool, list[BoolArray]] = {True: [], False: []}
        z: dict[bool, list[FloatArray]] = {True: [], False: []}
        level: list[FloatArray] = []
        seen: list[BoolArray] = []
        for k in range(1, max(_LOOKBACK, RECENT) + 1):
            if col - k < 0:
                break
            s = scorer.rows_at(col - k, rows, pool)
            seen.append(np.isfinite(s.observed) & np.isfinite(s.expected))
            for u in (True, False):
                off[u].append(scorer.off(s, col - k, u, rows) & seen[-1])
                z[u].append(z_scores(s.p_high if u else s.p_low))
            with np.errstate(invalid="ignore", divide="ignore"):
                level.append(s.observed / s.season if multiplicative else s.observed - s.season)
        # per row, the positions of its first three observed days within the look-back
        picks = np.full((rows.size, 3), -1, dtype=np.int64)
        if seen:
            observed = np.stack(seen[:_LOOKBACK], axis=1)
            rank = np.cumsum(observed, axis=1) - 1
            for j in range(3):
                hit = observed & (rank == j)
                picks[:, j] = np.where(hit.any(axis=1), np.argmax(hit, axis=1), -1)
        #: per direction, each of the days before (newest first): off, and z-scores
        self.days_off, self.days_z = off, z
        self.off = {u: [_pick(off[u], picks[:, j], False) for j in range(3)] for u in (True, False)}
        self.z = {u: [_pick(z[u], picks[:, j], 0.0) for j in range(3)] for u in (True, False)}
        self.level = [_pick(level, picks[:, j], np.nan) for j in range(3)]
        #: per direction, on how many of the last RECENT days each row was clearly off that way
        #: (one-sided p < CLEAR: chance alone rarely makes three such days in a week)
        self.recent_off = {u: _clearly_off(off[u][:RECENT], z[u][:RECENT], rows.size) for u in (True, False)}

    def steady(self, scorer: Scorer, today: DayScores, i: int, n: int) -> bool:
        """Do series ``i`` (row ``n`` here) today and its 2 observed days before sit at one level
        (weekday-adjusted, none more than :data:`STEADY` times another)? A burst and its
        fading tail are no level shift."""
        if scorer.model is Model.CONTINUOUS:
            return True
        with np.errstate(invalid="ignore", divide="ignore"):
            now = float(today.observed[i] / today.season[i])
        days = [now, float(self.level[0][n]), float(self.level[1][n])]
        days = [v for v in days if np.isfinite(v) and v > 0]
        return len(days) < 3 or max(days) <= STEADY * min(days)

    def beyond(self, scorer: Scorer, today: DayScores, i: int, n: int, up: bool) -> bool:
        """Is series ``i`` (row ``n`` here) today significantly and materially beyond the level
        its recent off days were at (weekday-adjusted), the same way? Then it is a new move,
        not an ongoing shift."""
        levels = [float(self.level[k][n]) for k in range(3) if self.off[up][k][n]]
        levels = [v for v in levels if np.isfinite(v)]
        season = float(today.season[i])
        if not levels or not np.isfinite(season):
            return True
        recent = float(np.mean(levels))
        if scorer.model is Model.CONTINUOUS:
            expected, scale = recent + season, 1.0
        else:
            expected = recent * season
            scale = max(expected / float(today.expected[i]), 1.0) if today.expected[i] > 0 else 1.0
        spread = float(today.sd[i]) * scale * np.sqrt(1.0 + 1.0 / len(levels))
        delta = (float(today.observed[i]) - expected) * (1.0 if up else -1.0)
        if not (delta > 0 and spread > 0):
            return False
        both = scorer.mp.direction is DirectionFilter.BOTH
        p = (2.0 if both else 1.0) * float(noise.norm_sf(delta / spread))
        return p < float(scorer.max_p[i]) and delta >= scorer.mp.min_change_pct * abs(expected)


def _clearly_off(off: list[BoolArray], z: list[FloatArray], n: int) -> IntArray:
    counts = np.zeros(n, dtype=np.int64)
    for o, zz in zip(off, z, strict=True):
        counts += o & (zz > _CLEAR_Z)
    return counts


def _pick(days: list[np.ndarray], at: IntArray, missing: float | bool) -> np.ndarray:
    """Per row, the value of ``days[at[row]]`` (``missing`` where ``at`` is -1)."""
    if not days:
        return np.full(at.size, missing)
    stacked = np.stack(days, axis=1)
    chosen = stacked[np.arange(at.size), np.maximum(at, 0)]
    return np.where(at >= 0, chosen, missing)
