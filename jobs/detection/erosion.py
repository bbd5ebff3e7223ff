"""A rate that slid: the last week against the weeks before the slide began.

A CTR that erodes by 30-50% over one to three weeks has no day far off its own baseline,
which follows the slide (its trend line, then the re-basing), and the CUSUM of those small
residuals (:mod:`jobs.detection.cusum`) catches only the steeper slides. So each rate
series with a denominator (``ctr``: clicks over impressions) is also judged on whole
weeks, against a baseline the slide cannot have moved:

- the last :data:`RECENT` days (a whole week, so every weekday weighs as before) against
  the :data:`BEFORE` days that ended :data:`GAP` days before them (at least
  :data:`MIN_BEFORE` of them observed), each as a ratio of sums (clicks over impressions);
- the difference in units of its noise: the before days' own day-to-day spread (a robust
  variance of the daily rates, at least the binomial variance of a day's impressions),
  times :data:`INFLATE` for days that are not independent (a rate wanders), over the
  days of each window;
- it *slid* when ``|z| >=`` ``slide_z`` and the change is at least ``max(min_change_pct,``
  :data:`MIN_CHANGE` ``)`` of the before rate, with the impressions there in both windows.

:func:`slid` screens every row of a day at once (a few sums over the panel's columns). The
decision (:mod:`jobs.detection.decide`) reports a slid row once: on the first day it slid,
when it did not slide on any of the :data:`jobs.detection.cusum.ANNOUNCED` days before, and
the change was not announced otherwise (a day significant on its own, a level shift, the
CUSUM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jobs.detection.baseline import nanmedian
from jobs.detection.cusum import ANNOUNCED
from jobs.detection.scorer import Scorer
from jobs.detection.stats import IntArray, Model
from jobs.domain import FloatArray

__all__ = ["BEFORE", "GAP", "RECENT", "Slide", "applies", "first_slide", "slid"]

BoolArray = npt.NDArray[np.bool_]
#: The newest days, today included: one whole week.
RECENT = 7
#: Days between the week judged and the days it is judged against (a slide of up to this long
#: is wholly after them).
GAP = 14
#: The days judged against: three whole weeks.
BEFORE = 21
#: Fewest observed days in the weeks judged against.
MIN_BEFORE = 14
#: The smallest relative change reported this way (at least ``min_change_pct``).
MIN_CHANGE = 0.2
#: Day-to-day noise is scaled by this for a week's mean: a rate wanders, its days are not
#: independent draws.
INFLATE = 2.0


def applies(scorer: Scorer) -> bool:
    """Is ``scorer``'s panel a rate counted in a denominator (``ctr``)?"""
    return scorer.model is Model.RATE and scorer.denominators is not None


@dataclass(frozen=True)
class Slide:
    """Per row judged on a day: did its rate slide (and is today on the slid side), which
    way, from what rate (the weeks before) to what (the last week), and how far in noise."""

    moved: BoolArray
    up: BoolArray
    before: FloatArray
    now: FloatArray
    z: FloatArray


def slid(scorer: Scorer, col: int, rows: IntArray | None = None) -> Slide:
    """Did the rate of each row (all, or ``rows``) slide by day ``col``? (See the module
    docstring; today's own rate must also be on the slid side, at least half as far.)"""
    assert scorer.denominators is not None
    idx = np.arange(scorer.values.shape[0]) if rows is None else rows
    first = col - RECENT - GAP - BEFORE + 1
    nan = np.full(idx.size, np.nan)
    if first < 0:
        none = np.zeros(idx.size, dtype=np.bool_)
        return Slide(none, none, nan, nan, nan)
    rate = scorer.values[idx, first : col + 1]
    shown = scorer.denominators[idx, first : col + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(rate) & np.isfinite(shown) & (shown > 0)
        clicks = np.where(ok, rate * shown, 0.0)
        shown = np.where(ok, shown, 0.0)
        rate = np.where(ok, rate, np.nan)
        before, recent = slice(0, BEFORE), slice(BEFORE + GAP, None)
        days_before = ok[:, before].sum(axis=1)
        days_recent = ok[:, recent].sum(axis=1)
        base = clicks[:, before].sum(axis=1) / shown[:, before].sum(axis=1)
        now = clicks[:, recent].sum(axis=1) / shown[:, recent].sum(axis=1)
        typical = shown[:, before].sum(axis=1) / np.maximum(days_before, 1)
        var_day = np.fmax(_robust_variance(rate[:, before]), base * (1.0 - base) / typical) * INFLATE
        z = (now - base) / np.sqrt(var_day / np.maximum(days_recent, 1) + var_day / np.maximum(days_before, 1))
        floor = scorer.mp.min_volume
        volume = (typical >= floor) & (shown[:, recent].sum(axis=1) / np.maximum(days_recent, 1) >= floor)
        enough = (days_before >= MIN_BEFORE) & (days_recent >= RECENT - 2) & (base > 0)
        material = np.abs(now - base) >= max(scorer.mp.min_change_pct, MIN_CHANGE) * base
        today = (rate[:, -1] - base) * np.sign(now - base) >= 0.5 * np.abs(now - base)
        moved = enough & volume & material & (np.abs(z) >= scorer.mp.slide_z) & today
    return Slide(np.asarray(moved & np.isfinite(z)), np.asarray(z > 0), base, now, z)


def first_slide(scorer: Scorer, col: int, rows: IntArray, up: BoolArray) -> BoolArray:
    """Which of ``rows`` (sliding the ``up`` way on ``col``) did not slide that way on any of
    the :data:`jobs.detection.cusum.ANNOUNCED` days before?"""
    fresh = np.ones(rows.size, dtype=np.bool_)
    for back in range(1, ANNOUNCED + 1):
        if not fresh.any() or col - back < 0:
            break
        was = slid(scorer, col - back, rows)
        fresh &= ~(was.moved & (was.up == up))
    return fresh


def _robust_variance(days: FloatArray) -> FloatArray:
    """Per row, the variance of the days from their median absolute deviation (NaN ignored)."""
    centre = nanmedian(days, axis=1)
    mad = nanmedian(np.abs(days - centre[:, None]), axis=1)
    return np.asarray((1.4826 * mad) ** 2)
