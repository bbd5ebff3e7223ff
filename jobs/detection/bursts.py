"""Decisions taken before any run of days is looked at: bursts and tracking breaks.

- **Burst**: a count at least ``burst_ratio`` times its usual level — the lower of its
  expected value and the median of the same weekday over the last 8 weeks, at least
  ``min_volume`` — and :data:`_BURST_SCREEN` times both its expected value and that
  weekday median (a day the series often sees is no burst because the baseline dipped
  after a low spell), with a one-sided
  p-value below :data:`_BURST_P` (or below the series' learned ``max_p_value``), is a
  SPIKE whatever came before it: an elevated week must not absorb the biggest day in
  years as an "ongoing shift". After a *steady* shifted week (every day :data:`_SHIFTED`
  times its weekday's usual or more, none :data:`_STEADY` times another) it must also be
  :data:`_BURST_SCREEN` times that week's level: a level shift continuing is no burst,
  while a run of bursts makes no level. A day right after a run of burst days and,
  relative to its weekday, below the run's peak is the same burst fading: no news.
- **Tracking break**: a significant count at or below :data:`OUTAGE_RATIO` of expected
  is an OUTAGE, even right after another change of the same series (sessions down 40%
  yesterday, key events at zero today), so it alerts at once and inhibits what it causes.
  A collapse already there yesterday is left to the runs of days (an outage on its second
  day, a level shift on its third).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from jobs.detection.scorer import Scorer
from jobs.detection.stats import DayScores, IntArray, Model, nanmedian
from jobs.domain import FloatArray, Kind

__all__ = ["OUTAGE_RATIO", "overrides"]

BoolArray = npt.NDArray[np.bool_]
#: A count at or below this share of expected is a collapse (a tracking break).
OUTAGE_RATIO = 0.05
#: A burst needs at most this one-sided p-value (a series' learned bar, when stricter).
_BURST_P = 0.05
#: A burst is also at least this many times its expected value.
_BURST_SCREEN = 2.0
#: Days a burst's run is looked back over (the peak a fading day is compared with).
_BURST_RUN = 14
#: A day this many times yesterday's level (relative to each one's weekday) is surging
#: again, not fading: a new burst inside a run of bursts.
_RESURGE = 1.5
#: A week whose every day is this many times its weekday's usual or more is shifted ...
_SHIFTED = 1.5
#: ... when no day of it is more than this many times another (a level, not a run of bursts).
_STEADY = 2.0


def overrides(scorer: Scorer, s: DayScores, col: int, *, eligible: BoolArray, sig: BoolArray) -> dict[int, Kind | None]:
    """Rows decided before any run of days is looked at: a burst is a SPIKE whatever came
    before it (and its fading tail is no news: None); a significant collapse to near zero
    is an OUTAGE, a tracking break, even right after another change."""
    out: dict[int, Kind | None] = {}
    faded = np.zeros(eligible.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        up = s.observed > s.expected
        burst = _bursts(scorer, s, col, eligible & up, faded)
        collapsed = eligible & sig & ~up & (s.observed <= OUTAGE_RATIO * s.expected)
        if col > 0 and collapsed.any():
            # a collapse that began before today is judged as a run of days (an outage on its
            # second day, a level shift on its third: a page deindexed is one level shift)
            collapsed &= ~(scorer.panel.values[:, col - 1] <= 2 * OUTAGE_RATIO * s.expected)
    if scorer.model is Model.COUNT:
        out.update(dict.fromkeys(np.flatnonzero(collapsed).tolist(), Kind.OUTAGE))
    out.update(dict.fromkeys(np.flatnonzero(faded).tolist(), None))
    out.update(dict.fromkeys(np.flatnonzero(burst).tolist(), Kind.SPIKE))
    return out


def _bursts(scorer: Scorer, s: DayScores, col: int, eligible: BoolArray, faded: BoolArray) -> BoolArray:
    """Counts at least ``burst_ratio`` times their usual level, clearly (one-sided p below
    :data:`_BURST_P`). The usual level is the lower of the expected value and the median of
    the same weekday over the last 8 weeks: a trend extrapolated up (a season ramping) must
    not hide a day that is far above anything the series usually does. ``faded`` is set
    for a day right after a run of burst days that is, relative to its weekday, below the
    run's peak (the same burst, already reported). After a steady week all well up, a
    burst is also at least :data:`_BURST_SCREEN` times that week's level (relative to the
    weekday): a day that merely continues a shifted level is no burst, while a run of
    bursts (days far apart from each other) does not make a level."""
    ratio = scorer.mp.burst_ratio
    out = np.zeros(eligible.shape, dtype=np.bool_)
    if scorer.model is not Model.COUNT or ratio <= 0:
        return out
    with np.errstate(invalid="ignore"):
        # a series whose false alarms raised its bar (feedback) keeps that bar for bursts too
        bar = np.where(scorer.max_p < scorer.mp.max_p_value, scorer.max_p, _BURST_P)
        rows = np.flatnonzero(eligible & (s.p_high < bar) & (s.observed >= _BURST_SCREEN * s.expected))
    if rows.size == 0:
        return out
    usual = _weekday_usual(scorer, rows, col)
    base = np.fmin(s.expected[rows], usual)
    with np.errstate(invalid="ignore", divide="ignore"):
        # a burst fading over days is one burst: a day right after a run of burst days, and
        # relatively lower than the run's peak, is not news
        today = s.observed[rows] / usual
        peak = np.full(rows.size, -np.inf)
        going = np.ones(rows.size, dtype=np.bool_)
        rels = []
        for back in range(1, min(_BURST_RUN, col) + 1):
            rel = scorer.panel.values[rows, col - back] / _weekday_usual(scorer, rows, col - back)
            rels.append(rel)
            going &= rel >= ratio
            peak = np.where(going, np.fmax(peak, rel), peak)
        # fading: no higher than the run's peak, and not surging again from yesterday
        fading = (today <= peak) & ~(today > _RESURGE * rels[0]) if rels else np.zeros(rows.size, dtype=np.bool_)
        # after a week all well up (a shifted level), far above that week too: a day that
        # merely continues a shifted level is no burst
        last = np.stack(rels[:7], axis=1) if rels else np.full((rows.size, 1), np.nan)
        steady = np.max(last, axis=1) <= _STEADY * np.min(last, axis=1)
        shifted = np.all(last >= _SHIFTED, axis=1) & steady
        above = ~shifted | (today >= _BURST_SCREEN * nanmedian(last, axis=1))
        # and far above the weekday's usual level itself: after a low spell the baseline dips,
        # and a day the series often sees is no burst however far above that dip it is
        usual_far = s.observed[rows] >= _BURST_SCREEN * usual
        out[rows] = (s.observed[rows] >= ratio * base) & (base >= scorer.mp.min_volume) & ~fading & above & usual_far
        faded[rows] = fading
    return out


def _weekday_usual(scorer: Scorer, rows: IntArray, col: int) -> FloatArray:
    """The median of ``rows`` on the same weekday as ``col`` over the 8 weeks before it."""
    cols = np.asarray([col - 7 * k for k in range(1, 9) if col - 7 * k >= 0], dtype=np.int64)
    if not cols.size:
        return np.full(rows.size, np.nan)
    return nanmedian(scorer.values[np.ix_(rows, cols)], axis=1)
