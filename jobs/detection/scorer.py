"""One panel's scores and knobs, shared by the decision steps.

A :class:`Scorer` holds a metric panel (its values with the excluded days blanked), the
metric's :class:`jobs.detection.params.MetricParams`, the panel's dimension groups and
parents, and, for a rate or ``position``, the scorer of the count that carries it (its
volume: impressions, sessions). Scores per day are computed once for the whole panel and
cached; :meth:`Scorer.rows_at` scores a few rows with given pooled noise parameters.
:func:`build_scorers` makes every panel's scorer complete, volumes linked, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from jobs.detection.holidays import WIDEN, holiday_dates
from jobs.detection.panels import aligned, dimension_groups, name_parts, parents
from jobs.detection.params import DetectionParams, DirectionFilter, MetricParams
from jobs.detection.stats import DayFit, DayScores, IntArray, Model, Pool, finish_day, fit_day, fit_day_soon
from jobs.domain import COUNT_METRICS, RATE_DENOMINATORS, RATE_METRICS, ChartData, FloatArray, MetricPanel

__all__ = ["FACTOR_OF", "HISTORY_LOOKED_AT", "LOOSE", "VOLUME_OF", "Scorer", "build_scorers"]

#: Metric -> the count metric that carries it (a rate's denominator; position's impressions).
VOLUME_OF: dict[str, str] = {**RATE_DENOMINATORS, "position": "impressions"}
#: Product metric -> its volume factor (``keyEvents = sessions x conversion rate``).
FACTOR_OF: dict[str, str] = {
    "keyEvents": "sessions",
    "conversions": "sessions",
    "totalUsers": "sessions",
    "activeUsers": "sessions",
    "screenPageViews": "sessions",
    "clicks": "impressions",
}
#: One-sided tail probability under which a day counts as "off" when judging runs of days
#: (level shifts, ongoing shifts, a total that moved) rather than reporting it.
LOOSE = 0.05
BoolArray = np.ndarray
#: The furthest back, in days, that deciding a day looks at other days' scores (its chart).
HISTORY_LOOKED_AT = 56


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
    #: Days expected to be unusual (:mod:`jobs.detection.holidays`): scored with a wider
    #: interval, and left out of the baselines of the days after them.
    holidays: frozenset[date] = frozenset()
    #: series -> the ``max_p_value`` feedback taught it (:mod:`jobs.detection.learning`)
    learned: dict[str, float] = field(default_factory=dict)
    model: Model = field(init=False)
    #: per series, the largest p-value a finding may have (the metric's, or a learned one)
    max_p: FloatArray = field(init=False)
    cache: dict[int, DayScores] = field(default_factory=dict)
    #: per day, every series' pool-free fit (:meth:`fit`), lent to :meth:`rows_at`
    fits: dict[int, DayFit] = field(default_factory=dict)
    #: per day, a whole-panel fit started ahead (:meth:`prefetch`): the call waits for it
    pending: dict[int, Callable[[], DayFit]] = field(default_factory=dict)
    #: per day not fitted for the whole panel, the rows fitted so far (sorted) and their fits
    partial: dict[int, tuple[IntArray, DayFit]] = field(default_factory=dict)
    #: (day, row) -> the row's chart on that day (:func:`jobs.detection.decide._charts`)
    charts: dict[tuple[int, int], ChartData] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    #: For a product metric (keyEvents, clicks), the scorer of its volume factor (sessions,
    #: impressions): a product moving with its factor is that factor's change.
    factor: Scorer | None = None
    #: False: findings carry no chart and no interval (a tuning preview lists them only,
    #: and the bands of eight weeks of days are most of a finding's cost)
    charted: bool = True
    #: (numerator, denominator, a proportion?) of this panel's rate, once looked up
    #: (:mod:`jobs.detection.erosion`)
    slide_parts: tuple[FloatArray, FloatArray, bool] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.model = _model(self.panel.metric)
        if self.model is Model.RATE and self.denominators is None:
            self.model = Model.CONTINUOUS  # no denominator to count with
        first, n = self.panel.dates[0], len(self.panel.dates)
        cols = [c for c in ((d - first).days for d in self.mp.exclude_dates) if 0 <= c < n]
        self.holiday_cols = {(d - first).days for d in self.holidays if 0 <= (d - first).days < n}
        blank = [*cols, *sorted(self.holiday_cols)]
        self.values = self.panel.values.astype(np.float64, copy=bool(blank))  # copied only to blank days
        self.values[:, blank] = np.nan
        parts = name_parts(self.panel.series)
        self.dims: dict[str, list[int]]
        self.dims, self.groups = dimension_groups(parts)
        for label, dim in enumerate(self.dims, 1):
            self.labels[dim] = label
        self.parents: IntArray = parents(self.panel.series, parts)
        #: impressions behind an average rank: a day's variance is inverse to them
        self.weights: FloatArray | None = None
        if self.panel.metric == "position" and self.volume is not None:
            self.weights = self.volume.values
        self.max_p = np.full(len(self.panel.series), self.mp.max_p_value)
        if self.learned:
            index = {name: i for i, name in enumerate(self.panel.series)}
            for name, p in self.learned.items():
                if name in index:
                    self.max_p[index[name]] = min(p, self.mp.max_p_value)

    def at(self, col: int) -> DayScores:
        if col not in self.cache:
            den = self.denominators[:, col] if self.denominators is not None else None
            holiday = col in self.holiday_cols  # scored on its own values, with a wider interval
            self.cache[col] = finish_day(
                self.fit(col),
                self.panel.values[:, col] if holiday else self.values[:, col],
                groups=self.groups,
                shown=den,
                weights=self.weights[:, col] if self.weights is not None else None,
                intervals=False,
                widen=WIDEN if holiday else 1.0,
            )
        return self.cache[col]

    def fit(self, col: int) -> DayFit:
        """Every series' pool-free fit on ``col`` (:func:`jobs.detection.stats.fit_day`), kept."""
        if col not in self.fits:
            later = self.pending.pop(col, None)
            self.fits[col] = later() if later is not None else fit_day(self.values, col, **self._fit_knobs())
        return self.fits[col]

    def prefetch(self, col: int) -> None:
        """Start fitting every series on ``col`` on the thread pool, to be taken by :meth:`fit`
        (a walk starts the next day while it decides this one; the same fit either way)."""
        if col in self.cache or col in self.fits or col in self.pending:
            return
        self.pending[col] = fit_day_soon(self.values, col, **self._fit_knobs())

    def _fit_knobs(self) -> dict[str, Any]:
        """What :func:`fit_day` takes besides the values and the day, for this panel."""
        return {
            "model": self.model,
            "training_days": self.mp.training_days,
            "denominators": self.denominators,
            "weights": self.weights,
        }

    def fit_rows(self, col: int, rows: IntArray) -> DayFit:
        """The fits of ``rows`` on ``col``: lent by a day already fitted for
        the whole panel (a walk passed it), else by the rows fitted for earlier requests on
        that day, the others fitted now and kept. Each series is fitted on its own history,
        so they are the same either way."""
        if col in self.pending:
            self.fit(col)
        if col in self.fits:
            return self.fits[col].take(rows)
        known, day = self.partial.get(col, (np.zeros(0, dtype=np.int64), None))
        missing = np.setdiff1d(rows, known)
        if day is None or missing.size:
            fitted = fit_day(
                self.values[missing],
                col,
                model=self.model,
                training_days=self.mp.training_days,
                denominators=self.denominators[missing] if self.denominators is not None else None,
                weights=self.weights[missing] if self.weights is not None else None,
            )
            known = np.concatenate([known, missing])
            day = fitted if day is None else DayFit.stack([day, fitted])
            order = np.argsort(known, kind="stable")
            known, day = known[order], day.take(order)
            self.partial[col] = (known, day)
        return day.take(np.searchsorted(known, rows))

    def forget_fits(self, before: int) -> None:
        """Drop the fits of the days before column ``before`` (a walk is past needing them)."""
        for kept in (self.fits, self.partial):
            for col in [c for c in kept if c < before]:
                del kept[col]

    def rows_at(self, col: int, rows: IntArray, pool: Pool, *, intervals: bool = False) -> DayScores:
        """Scores of ``rows`` only on ``col``, with the given pooled noise parameters."""
        return finish_day(
            self.fit_rows(col, rows),
            self.values[rows, col],
            groups=self.groups[rows],
            shown=self.denominators[rows, col] if self.denominators is not None else None,
            weights=self.weights[rows, col] if self.weights is not None else None,
            fixed_pool=pool,
            intervals=intervals,
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


def build_scorers(panels: Sequence[MetricPanel], params: DetectionParams) -> dict[tuple[str, str], Scorer]:
    """A scorer per non-empty panel, keyed by (property, metric); counts first, so that a
    rate or ``position`` finds the scorer of its volume (re-indexed to its own series and
    dates when they differ) and, for a proportion, counts with it as denominator."""
    scorers: dict[tuple[str, str], Scorer] = {}
    for panel in sorted(panels, key=lambda p: (p.property, p.metric not in COUNT_METRICS, p.metric)):
        if not panel.series:
            continue
        mp = params.for_metric(panel.metric)
        days = holiday_dates(params.countries.get(panel.property, ""), panel.dates[0], panel.dates[-1])
        volume: Scorer | None = None
        if panel.metric in VOLUME_OF:
            imp = scorers.get((panel.property, VOLUME_OF[panel.metric]))
            if imp is not None:
                same = imp.panel.series == panel.series and imp.panel.dates == panel.dates
                volume = imp if same else Scorer(_reindexed(imp.panel, panel), imp.mp, holidays=days)
        denominators = volume.values if volume is not None and _proportions(panel) else None
        learned = {s: p for (prop, m, s), p in params.learned.items() if prop == panel.property and m == panel.metric}
        scorers[panel.property, panel.metric] = Scorer(
            panel, mp, volume=volume, denominators=denominators, holidays=days, learned=learned
        )
    for (prop, metric), scorer in scorers.items():
        if metric in FACTOR_OF:
            scorer.factor = scorers.get((prop, FACTOR_OF[metric]))
    return scorers


def _reindexed(source: MetricPanel, like: MetricPanel) -> MetricPanel:
    values = aligned(source, like.series, like.dates)
    return MetricPanel(source.property, source.metric, like.series, like.dates, values, source.last_final)
