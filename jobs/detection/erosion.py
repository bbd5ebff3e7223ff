"""A rate that slid: the last week against the weeks before the slide began.

A CTR or conversion rate that erodes by 30-50% over one to three weeks has no day far off
its own baseline, which follows the slide (its trend line, then the re-basing), and the
CUSUM of those small residuals (:mod:`jobs.detection.cusum`) catches only the steeper
slides. So each rate is also judged on whole weeks, against a baseline the slide cannot
have moved. The rates: ``ctr`` (clicks over impressions) and the conversion rate of
``keyEvents`` and ``conversions`` (over the same series' sessions, when the property has
them for the same days):

- the last :data:`RECENT` days (a whole week, so every weekday weighs as before) against
  the :data:`BEFORE` days that ended :data:`GAP` days before them (at least
  :data:`MIN_BEFORE` of them observed), each as a ratio of sums;
- the difference in units of its noise: the before days' own day-to-day spread (a robust
  variance of the daily rates, at least the binomial variance of a day's impressions, or
  the Poisson variance of a day's conversions), its part beyond that counting noise times
  :data:`INFLATE` (a rate wanders: that part of its days is no independent draw), over the
  days of each window;
- it *slid* when ``|z| >=`` ``slide_z``, the change is at least ``max(min_change_pct,``
  :data:`MIN_CHANGE` ``)`` of the before rate, the denominator is at ``min_volume`` in both
  windows, and today's own rate is on the slid side (at least half as far).

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

__all__ = ["BEFORE", "GAP", "RATIO_OF", "RECENT", "Slide", "applies", "expected_today", "first_slide", "slid"]

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
#: A day's rate at most this share of the weeks before's median (or that many times it) is
#: a tracking break (or a burst), not part of a slide.
_COLLAPSED = 0.1
#: Days of the weeks before further than this many of their own spreads from their median
#: are left out of them.
_OUTLIER = 4.0
#: Rows judged at once.
_BLOCK = 32768
#: The day-to-day spread beyond the counting noise (binomial, Poisson) is scaled by this for
#: a week's mean: a rate wanders, so that part of its days is no independent draw.
INFLATE = 2.0


#: Counts whose ratio to their volume factor is a rate worth watching (a conversion rate).
RATIO_OF = {"keyEvents": "sessions", "conversions": "sessions"}


def applies(scorer: Scorer) -> bool:
    """Is ``scorer``'s panel a rate: a ``ctr`` counted in its impressions, or a count of
    conversions whose sessions the property has for the same days?"""
    return _parts(scorer) is not None


def _parts(scorer: Scorer) -> tuple[FloatArray, FloatArray, bool] | None:
    """(numerator, denominator, a proportion?) per series and day, or None: not a rate."""
    if scorer.slide_parts is not None:
        return scorer.slide_parts
    if scorer.model is Model.RATE and scorer.denominators is not None:
        with np.errstate(invalid="ignore"):
            scorer.slide_parts = (scorer.values * scorer.denominators, scorer.denominators, True)
    factor = scorer.factor
    if scorer.panel.metric in RATIO_OF and factor is not None and factor.panel.dates == scorer.panel.dates:
        index = {name: n for n, name in enumerate(factor.panel.series)}
        at = np.asarray([index.get(name, -1) for name in scorer.panel.series], dtype=np.int64)
        den = np.where((at >= 0)[:, None], factor.values[np.maximum(at, 0)], np.nan)
        scorer.slide_parts = (scorer.values, den, False)
    return scorer.slide_parts


@dataclass(frozen=True)
class Slide:
    """Per row judged on a day: did its rate slide (today on the slid side too), which way,
    from what rate (the weeks before) to what (the last week), how far in noise, and did
    the denominator hold steady meanwhile (a rate change, not a level shift)?"""

    moved: BoolArray
    up: BoolArray
    before: FloatArray
    now: FloatArray
    z: FloatArray
    steady: BoolArray


def slid(scorer: Scorer, col: int, rows: IntArray | None = None) -> Slide:
    """Did the rate of each row (all, or ``rows``) slide by day ``col``? (See the module
    docstring.) Rows are judged in blocks of :data:`_BLOCK`, so the windows' temporaries
    stay small on a panel of hundreds of thousands of series."""
    idx = np.arange(scorer.values.shape[0]) if rows is None else rows
    if idx.size <= _BLOCK:
        return _slid(scorer, col, idx)
    parts = [_slid(scorer, col, idx[a : a + _BLOCK]) for a in range(0, idx.size, _BLOCK)]
    return Slide(*(np.concatenate([getattr(p, f) for p in parts]) for f in Slide.__dataclass_fields__))


def _slid(scorer: Scorer, col: int, idx: IntArray) -> Slide:
    parts = _parts(scorer)
    assert parts is not None
    first = col - RECENT - GAP - BEFORE + 1
    if first < 0:
        none, nan = np.zeros(idx.size, dtype=np.bool_), np.full(idx.size, np.nan)
        return Slide(none, none, nan, nan, nan, none)
    count = parts[0][idx, first : col + 1]
    shown = parts[1][idx, first : col + 1]
    before, recent = slice(0, BEFORE), slice(BEFORE + GAP, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(count) & np.isfinite(shown) & (shown > 0)
        rate = np.where(ok, count / shown, np.nan)
        # a tracking break (the rate collapsed) or a burst is no level to slide from or to:
        # such days are left out of both windows, and days far off the weeks before out of them
        centre = nanmedian(rate[:, before], axis=1)
        typical_day = np.fmax(nanmedian(np.where(ok, shown, np.nan)[:, before], axis=1), 1.0)
        counting = centre * (1.0 - centre) if parts[2] else centre
        spread = np.sqrt(np.fmax(_robust_variance(rate[:, before]), counting / typical_day))[:, None]
        centre = centre[:, None]
        odd = (rate <= _COLLAPSED * centre) | (rate >= centre / _COLLAPSED)
        odd[:, before] |= np.abs(rate[:, before] - centre) > _OUTLIER * spread
        ok &= ~odd
        count, shown = np.where(ok, count, 0.0), np.where(ok, shown, 0.0)
        rate = np.where(ok, rate, np.nan)
        days_before, days_recent = ok[:, before].sum(axis=1), ok[:, recent].sum(axis=1)
        base = count[:, before].sum(axis=1) / shown[:, before].sum(axis=1)
        now = count[:, recent].sum(axis=1) / shown[:, recent].sum(axis=1)
        typical = shown[:, before].sum(axis=1) / np.maximum(days_before, 1)
        lately = shown[:, recent].sum(axis=1) / np.maximum(days_recent, 1)
        counting = base * (1.0 - base) if parts[2] else base  # binomial, or Poisson in the sessions
        sampling = counting / typical  # independent from day to day; the rest of the spread wanders
        var_day = sampling + np.fmax(_robust_variance(rate[:, before]) - sampling, 0.0) * INFLATE
        z = (now - base) / np.sqrt(var_day / np.maximum(days_recent, 1) + var_day / np.maximum(days_before, 1))
        mp = scorer.mp
        volume = (typical >= mp.min_volume) & (lately >= mp.min_volume)
        enough = (days_before >= MIN_BEFORE) & (days_recent >= RECENT - 2) & (base > 0)
        material = np.abs(now - base) >= max(mp.min_change_pct, MIN_CHANGE) * base
        today = (rate[:, -1] - base) * np.sign(now - base) >= 0.5 * np.abs(now - base)
        moved = enough & volume & material & (np.abs(z) >= mp.slide_z) & today & np.isfinite(z)
        steady = np.abs(lately / typical - 1.0) < mp.min_change_pct
    return Slide(np.asarray(moved), np.asarray(z > 0), base, now, z, np.asarray(steady))


def expected_today(scorer: Scorer, col: int, rows: IntArray, slide: Slide, season: FloatArray) -> FloatArray:
    """What ``rows`` would be today at the rate of the weeks before the slide: a CTR on
    today's weekday (``season``, its factor), conversions on today's own sessions."""
    parts = _parts(scorer)
    assert parts is not None
    if parts[2]:
        factor = np.where(np.isfinite(season) & (season > 0), season, 1.0)
        return np.asarray(np.clip(slide.before[rows] * factor, 0.0, 1.0))
    return np.asarray(slide.before[rows] * parts[1][rows, col])


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
