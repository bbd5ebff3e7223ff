"""Walk-forward detection: which series x metric moved on a day, and how.

The decision on day D uses only panel columns dated <= D. Per panel and day, every
series is scored at once (:func:`jobs.detection.stats.score_day`), then decided by
:mod:`jobs.detection.decide` (significance, minimum effect and volume, kinds, level
shifts, folding children into their total), and finally findings that another metric of
the same series explains are folded by :mod:`jobs.detection.ratios` (keyEvents moving
with sessions, clicks with impressions or with CTR), which also attaches the ratio
decomposition (sessions x conversion rate, impressions x CTR).

Evidence from the days before D (was the series already off?) is always computed the
same way, for the few candidate rows only and with D's pooled noise parameters, so a day
is decided identically whether it is detected alone or inside a longer walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from jobs.detection.decide import panel_findings
from jobs.detection.explain import finding_sort_key
from jobs.detection.params import DetectionParams
from jobs.detection.ratios import fold_ratios
from jobs.detection.scorer import HISTORY_LOOKED_AT, Scorer, build_scorers
from jobs.domain import Finding, MetricPanel

__all__ = ["Walk", "detect", "detect_range", "walk", "walk_pair"]


class _Engine:
    def __init__(self, panels: Sequence[MetricPanel], params: DetectionParams, *, charts: bool = True) -> None:
        self.scorers = build_scorers(panels, params)
        for scorer in self.scorers.values():
            scorer.charted = charts

    def deciding(self, day: date) -> list[Scorer]:
        """The scorers whose panels are decided on ``day``."""
        out = []
        for scorer in self.scorers.values():
            panel, mp = scorer.panel, scorer.mp
            cutoff = panel.last_final - timedelta(days=mp.detection_delay_days or 0)
            if day > cutoff or not panel.dates[0] <= day <= panel.dates[-1] or day in mp.exclude_dates:
                continue
            out.append(scorer)
        return out

    def day(self, day: date) -> list[Finding]:
        found: list[Finding] = []
        for scorer in self.deciding(day):
            found.extend(panel_findings(scorer, (day - scorer.panel.dates[0]).days))
        return sorted(fold_ratios(found, self.scorers), key=finding_sort_key)

    def prefetch(self, day: date) -> None:
        """Start fitting the panels decided on ``day`` (and their volumes) on the thread pool."""
        for scorer in self.deciding(day):
            for one in (scorer, scorer.volume):
                if one is not None and one.panel.dates[0] <= day <= one.panel.dates[-1]:
                    one.prefetch((day - one.panel.dates[0]).days)


def detect(
    panels: Sequence[MetricPanel],
    params: DetectionParams,
    *,
    day: date,
    lend: Callable[[Mapping[tuple[str, str], Scorer]], None] | None = None,
) -> tuple[Finding, ...]:
    """Findings for ``day`` from data dated <= ``day``, most severe first (see module doc).
    ``lend`` is shown the scorers first, to lend them fits computed elsewhere (chunks)."""
    engine = _Engine(panels, params)
    if lend is not None:
        lend(engine.scorers)
    return tuple(engine.day(day))


@dataclass(frozen=True, slots=True)
class Walk:
    """What a walk over days found, and how much of the data it could judge.

    ``unscored`` counts series x metric that had values in the walked days but not enough
    history (3 whole weeks with 4+ days each) to be scored on any of them: too short to
    judge, skipped rather than an error.
    """

    findings: tuple[Finding, ...]
    series: int
    unscored: int


def walk(panels: Sequence[MetricPanel], params: DetectionParams, *, start: date, end: date) -> Walk:
    """Walk forward over ``start``..``end``: each day decided as :func:`detect` would on it.

    Findings are ordered by day, then most severe first. Scores are shared between days,
    not data: the decision on D never sees a row dated after D. Each day is fitted once for
    the whole panel; the look-backs (runs) and chart bands of later days take their rows'
    fits from it rather than fitting those rows again (a series' fit on a day depends on its
    own history before that day only, so the findings are those of :func:`detect`).
    """
    return _walk(_Engine(panels, params), start=start, end=end)


def walk_pair(
    panels: Sequence[MetricPanel],
    first: DetectionParams,
    second: DetectionParams,
    *,
    start: date,
    end: date,
    charts: bool = True,
) -> tuple[Walk, Walk]:
    """:func:`walk` under two sets of knobs, scoring each day once where both score alike.

    A day's scores depend on the data, the training window, the excluded days and the
    holidays only; sensitivity, minimum effect, volume, bursts and direction act on the
    decision. Where two metrics' scoring knobs agree the second walk reuses the first's
    scores, so a tuning preview costs little more than one replay. ``charts=False``: the
    findings come without chart and interval (NaN bounds), which a list does not show.
    """
    one, two = _Engine(panels, first, charts=charts), _Engine(panels, second, charts=charts)
    for key, scorer in two.scorers.items():
        other = one.scorers.get(key)
        if other is not None and _scored_alike(scorer, other):
            scorer.cache, scorer.fits, scorer.partial = other.cache, other.fits, other.partial
            scorer.pending = other.pending
            scorer.charts = other.charts
            if scorer.volume is not None and other.volume is not None and _scored_alike(scorer.volume, other.volume):
                scorer.volume.cache, scorer.volume.fits = other.volume.cache, other.volume.fits
                scorer.volume.partial, scorer.volume.pending = other.volume.partial, other.volume.pending
    return _walk(one, start=start, end=end), _walk(two, start=start, end=end)


def _scored_alike(a: Scorer, b: Scorer) -> bool:
    return (a.mp.training_days, a.mp.exclude_dates, a.model, a.holidays) == (
        b.mp.training_days,
        b.mp.exclude_dates,
        b.model,
        b.holidays,
    )


def _walk(engine: _Engine, *, start: date, end: date) -> Walk:
    out: list[Finding] = []
    day = start
    while day <= end:
        if day < end:  # the next day's fit runs on the pool's threads while this day is decided
            engine.prefetch(day + timedelta(days=1))
        out.extend(engine.day(day))
        day += timedelta(days=1)
        for scorer in engine.scorers.values():  # no later day looks further back than a chart
            for one in (scorer, scorer.volume):
                if one is not None:
                    one.forget_fits((day - one.panel.dates[0]).days - HISTORY_LOOKED_AT)
    seen = scored = 0
    for scorer in engine.scorers.values():
        days = list(scorer.cache.values())
        if not days:
            continue
        has_value = np.any([np.isfinite(d.observed) for d in days], axis=0)
        has_baseline = np.any([np.isfinite(d.expected) for d in days], axis=0)
        seen += int(has_value.sum())
        scored += int((has_value & has_baseline).sum())
    return Walk(tuple(out), seen, seen - scored)


def detect_range(
    panels: Sequence[MetricPanel], params: DetectionParams, *, start: date, end: date
) -> tuple[Finding, ...]:
    """The findings of :func:`walk` over ``start``..``end``."""
    return walk(panels, params, start=start, end=end).findings
