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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from jobs.detection.decide import panel_findings
from jobs.detection.explain import finding_sort_key
from jobs.detection.panels import aligned, dimension_groups, name_parts, parents
from jobs.detection.params import DetectionParams, DirectionFilter, MetricParams
from jobs.detection.ratios import fold_ratios
from jobs.detection.stats import DayScores, IntArray, Model, Pool, score_day
from jobs.domain import COUNT_METRICS, RATE_DENOMINATORS, RATE_METRICS, Finding, FloatArray, MetricPanel

__all__ = ["LOOSE", "Scorer", "Walk", "detect", "detect_range", "walk", "walk_pair"]

#: Metric -> the count metric that carries it (a rate's denominator; position's impressions).
VOLUME_OF: dict[str, str] = {**RATE_DENOMINATORS, "position": "impressions"}
#: One-sided tail probability under which a day counts as "off" when judging runs of days
#: (level shifts, ongoing shifts, a total that moved) rather than reporting it.
LOOSE = 0.05
BoolArray = np.ndarray


def _proportions(panel: MetricPanel) -> bool:
    """A rate panel whose values are fractions (0..1): ``ctr`` (derived from the counts)
    always; another rate when at least 99% of its values are. A file giving a rate in
    percent is scored as a continuous metric instead (no denominator to count with)."""
    if panel.metric not in RATE_METRICS:
        return False
    if panel.metric == "ctr":
        return True
    finite = panel.values[np.isfinite(panel.values)]
    return finite.size == 0 or float(np.mean((finite >= 0.0) & (finite <= 1.0))) >= 0.99


def _model(metric: str) -> Model:
    if metric in COUNT_METRICS:
        return Model.COUNT
    return Model.RATE if metric in RATE_METRICS else Model.CONTINUOUS


@dataclass
class Scorer:
    """One panel's per-day scores (the full panel cached per day) and its knobs."""

    panel: MetricPanel
    mp: MetricParams
    volume: Scorer | None = None
    denominators: FloatArray | None = None
    cache: dict[int, DayScores] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = _model(self.panel.metric)
        cols = [(d - self.panel.dates[0]).days for d in self.mp.exclude_dates]
        cols = [c for c in cols if 0 <= c < len(self.panel.dates)]
        self.values = self.panel.values.astype(np.float64, copy=bool(cols))  # copied only to blank days
        self.values[:, cols] = np.nan
        parts = name_parts(self.panel.series)
        self.dims: dict[str, list[int]]
        self.dims, self.groups = dimension_groups(parts)
        for label, dim in enumerate(self.dims, 1):
            self.labels[dim] = label
        self.parents: IntArray = parents(self.panel.series, parts)

    def at(self, col: int) -> DayScores:
        if col not in self.cache:
            self.cache[col] = score_day(
                self.values,
                col,
                model=self.model,
                training_days=self.mp.training_days,
                groups=self.groups,
                denominators=self.denominators,
                intervals=False,
            )
        return self.cache[col]

    def rows_at(self, col: int, rows: IntArray, pool: Pool) -> DayScores:
        """Scores of ``rows`` only on ``col``, with the given pooled noise parameters."""
        den = self.denominators[rows] if self.denominators is not None else None
        return score_day(
            self.values[rows],
            col,
            model=self.model,
            training_days=self.mp.training_days,
            groups=self.groups[rows],
            denominators=den,
            fixed_pool=pool,
            intervals=False,
        )

    def p_values(self, s: DayScores) -> FloatArray:
        if self.mp.direction is DirectionFilter.DOWN:
            return s.p_low
        if self.mp.direction is DirectionFilter.UP:
            return s.p_high
        return np.minimum(1.0, 2.0 * np.minimum(s.p_low, s.p_high))

    def effect(self, s: DayScores, col: int, rows: IntArray | None = None) -> BoolArray:
        """``|change| >= min_change_pct`` and ``>= min_change_abs`` (CTR: in clicks)."""
        delta = np.abs(s.observed - s.expected)
        size = delta
        if self.denominators is not None:
            den = self.denominators[:, col] if rows is None else self.denominators[rows, col]
            size = delta * den
        with np.errstate(invalid="ignore"):
            pct = delta >= self.mp.min_change_pct * np.abs(s.expected)
            return np.asarray(pct & (size >= self.mp.min_change_abs) & (delta > 0))

    def off(self, s: DayScores, col: int, up: bool, rows: IntArray | None = None) -> BoolArray:
        """Which series were materially and (loosely) significantly off the ``up`` way."""
        tail = s.p_high if up else s.p_low
        with np.errstate(invalid="ignore"):
            moved = (s.observed > s.expected) if up else (s.observed < s.expected)
            return np.asarray(moved & (tail < LOOSE) & self.effect(s, col, rows))

    def volume_ok(self, s: DayScores, col: int) -> BoolArray:
        floor = self.mp.min_volume
        with np.errstate(invalid="ignore"):
            if self.volume is not None:
                v = self.volume.at(col)
                return np.asarray((v.expected >= floor) & (v.observed >= floor))
            up = s.observed > s.expected
            return np.asarray((s.expected >= floor) | (up & (s.observed >= floor)))

    def stable_volume(self, col: int) -> BoolArray:
        """Series whose impressions did not move materially on ``col``."""
        if self.volume is None:
            return np.zeros(len(self.panel.series), dtype=np.bool_)
        v = self.volume.at(col)
        return np.asarray(~(self.volume.off(v, col, True) | self.volume.off(v, col, False)))


class _Engine:
    def __init__(self, panels: Sequence[MetricPanel], params: DetectionParams) -> None:
        self.scorers: dict[tuple[str, str], Scorer] = {}
        for panel in sorted(panels, key=lambda p: (p.property, p.metric not in COUNT_METRICS, p.metric)):
            if not panel.series:
                continue
            mp = params.for_metric(panel.metric)
            scorer = Scorer(panel, mp)
            if panel.metric in VOLUME_OF:
                imp = self.scorers.get((panel.property, VOLUME_OF[panel.metric]))
                if imp is not None:
                    same = imp.panel.series == panel.series and imp.panel.dates == panel.dates
                    scorer.volume = imp if same else Scorer(_reindexed(imp.panel, panel), imp.mp)
                    scorer.denominators = scorer.volume.values if _proportions(panel) else None
            if scorer.model is Model.RATE and scorer.denominators is None:
                scorer.model = Model.CONTINUOUS  # no denominator to count with
            self.scorers[panel.property, panel.metric] = scorer

    def day(self, day: date) -> list[Finding]:
        found: list[Finding] = []
        for scorer in self.scorers.values():
            panel, mp = scorer.panel, scorer.mp
            cutoff = panel.last_final - timedelta(days=mp.detection_delay_days or 0)
            if day > cutoff or not panel.dates[0] <= day <= panel.dates[-1] or day in mp.exclude_dates:
                continue
            found.extend(panel_findings(scorer, (day - panel.dates[0]).days))
        return sorted(fold_ratios(found, self.scorers), key=finding_sort_key)


def _reindexed(source: MetricPanel, like: MetricPanel) -> MetricPanel:
    values = aligned(source, like.series, like.dates)
    return MetricPanel(source.property, source.metric, like.series, like.dates, values, source.last_final)


def detect(panels: Sequence[MetricPanel], params: DetectionParams, *, day: date) -> tuple[Finding, ...]:
    """Findings for ``day`` from data dated <= ``day``, most severe first (see module doc)."""
    return tuple(_Engine(panels, params).day(day))


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
    not data: the decision on D never sees a row dated after D.
    """
    return _walk(_Engine(panels, params), start=start, end=end)


def walk_pair(
    panels: Sequence[MetricPanel], first: DetectionParams, second: DetectionParams, *, start: date, end: date
) -> tuple[Walk, Walk]:
    """:func:`walk` under two sets of knobs, scoring each day once where both score alike.

    A day's scores depend on the data, the training window and the excluded days only;
    sensitivity, minimum effect, volume and direction act on the decision. Where two
    metrics' scoring knobs agree the second walk reuses the first's scores, so a tuning
    preview costs little more than one replay.
    """
    one, two = _Engine(panels, first), _Engine(panels, second)
    for key, scorer in two.scorers.items():
        other = one.scorers.get(key)
        if other is not None and _scored_alike(scorer, other):
            scorer.cache = other.cache
            if scorer.volume is not None and other.volume is not None and _scored_alike(scorer.volume, other.volume):
                scorer.volume.cache = other.volume.cache
    return _walk(one, start=start, end=end), _walk(two, start=start, end=end)


def _scored_alike(a: Scorer, b: Scorer) -> bool:
    return (a.mp.training_days, a.mp.exclude_dates, a.model) == (b.mp.training_days, b.mp.exclude_dates, b.model)


def _walk(engine: _Engine, *, start: date, end: date) -> Walk:
    out: list[Finding] = []
    day = start
    while day <= end:
        out.extend(engine.day(day))
        day += timedelta(days=1)
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
