"""Walk-forward detection: which series x metric moved on a day, and how.

The decision on day D uses only panel columns dated <= D. Per panel and day, every
series is scored at once (:func:`jobs.detection.stats.score_day`); then:

- Top-level series (the total) are tested alone at ``sensitivity``; the children of each
  dimension are one Benjamini-Hochberg family (``q < sensitivity``).
- A finding also needs ``|change| >= min_change_pct``, ``|observed - expected| >=
  min_change_abs`` (for ``ctr`` counted in clicks: ``|delta ctr| x impressions``) and
  volume: ``expected >= min_volume``, or ``observed >= min_volume`` for a rise (for ``ctr``
  and ``position``: expected and observed impressions >= min_volume).
- ``direction`` other than both makes the test one-sided. For ``position`` "up" means
  the number grew (a worse rank).
- Kind: if the series deviated the same way on the 2 previous days (but not the 3rd) it
  is a LEVEL_SHIFT, reported on this day, the first on which it qualifies; deviating on 2
  or 3 of the 3 previous days otherwise, it is ongoing and not reported again (after two
  whole weeks at the new level the baseline re-bases onto it). Otherwise a count below 5% of
  expected is an OUTAGE, a ``ctr``/``position`` move with impressions within
  ``min_change_pct`` of expected a RATE_CHANGE, anything else a DROP or SPIKE.
- Drill-down: when a total is flagged, children moving its way are folded into its
  contributors unless their change is 1.5x the total's (or more); an OUTAGE folds all of
  its children's outages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from jobs.detection.explain import contributors, finding_sort_key, make_chart, severity
from jobs.detection.panels import aligned, dimension_of
from jobs.detection.params import DetectionParams, DirectionFilter, MetricParams
from jobs.detection.stats import DayScores, IntArray, Model, score_day
from jobs.domain import (
    COUNT_METRICS,
    TOTAL_SERIES,
    Anomaly,
    ChartData,
    Contributor,
    Direction,
    Finding,
    FloatArray,
    Kind,
    MetricPanel,
)

__all__ = ["detect", "detect_range"]

RATE_METRICS = frozenset({"ctr"})
_VOLUME_BACKED = frozenset({"ctr", "position"})
_OUTAGE_RATIO = 0.05
_FOLD_RATIO = 1.5
_CHART_DAYS = 56
BoolArray = npt.NDArray[np.bool_]


def _model(metric: str) -> Model:
    if metric in COUNT_METRICS:
        return Model.COUNT
    return Model.RATE if metric in RATE_METRICS else Model.CONTINUOUS


@dataclass
class _Scorer:
    """One panel's per-day scores, cached so a walk over many days scores each day once."""

    panel: MetricPanel
    mp: MetricParams
    volume: _Scorer | None = None
    denominators: FloatArray | None = None
    cache: dict[int, DayScores] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = _model(self.panel.metric)
        self.values = self.panel.values.astype(np.float64, copy=True)
        cols = [(d - self.panel.dates[0]).days for d in self.mp.exclude_dates]
        cols = [c for c in cols if 0 <= c < len(self.panel.dates)]
        self.values[:, cols] = np.nan
        self.dims: dict[str, list[int]] = {}
        for i, name in enumerate(self.panel.series):
            dim = dimension_of(name)
            if dim is not None:
                self.dims.setdefault(dim, []).append(i)
        labels = {dim: n + 1 for n, dim in enumerate(self.dims)}
        self.groups: IntArray = np.array(
            [labels.get(dimension_of(s) or "", 0) for s in self.panel.series], dtype=np.int64
        )

    def at(self, col: int) -> DayScores:
        if col not in self.cache:
            self.cache[col] = score_day(
                self.values,
                col,
                model=self.model,
                training_days=self.mp.training_days,
                groups=self.groups,
                denominators=self.denominators,
            )
        return self.cache[col]

    def p_values(self, s: DayScores) -> FloatArray:
        if self.mp.direction is DirectionFilter.DOWN:
            return s.p_low
        if self.mp.direction is DirectionFilter.UP:
            return s.p_high
        return np.minimum(1.0, 2.0 * np.minimum(s.p_low, s.p_high))

    def effect(self, s: DayScores, col: int) -> BoolArray:
        delta = np.abs(s.observed - s.expected)
        size = delta * self.denominators[:, col] if self.denominators is not None else delta
        with np.errstate(invalid="ignore"):
            pct = delta >= self.mp.min_change_pct * np.abs(s.expected)
            return np.asarray(pct & (size >= self.mp.min_change_abs) & (delta > 0))

    def deviates(self, col: int, up: bool) -> BoolArray:
        """Which series were significantly and materially off, the ``up`` way, on ``col``."""
        if col < 0:
            return np.zeros(len(self.panel.series), dtype=np.bool_)
        s = self.at(col)
        tail = s.p_high if up else s.p_low
        with np.errstate(invalid="ignore"):
            moved = (s.observed > s.expected) if up else (s.observed < s.expected)
            return np.asarray(moved & (2.0 * tail < self.mp.sensitivity) & self.effect(s, col))

    def volume_ok(self, s: DayScores, col: int, up: FloatArray) -> BoolArray:
        floor = self.mp.min_volume
        with np.errstate(invalid="ignore"):
            if self.volume is not None:
                v = self.volume.at(col)
                return np.asarray((v.expected >= floor) & (v.observed >= floor))
            return np.asarray((s.expected >= floor) | ((up > 0) & (s.observed >= floor)))

    def stable_volume(self, col: int) -> BoolArray:
        """Series whose impressions did not move significantly and materially on ``col``."""
        if self.volume is None:
            return np.zeros(len(self.panel.series), dtype=np.bool_)
        return np.asarray(~(self.volume.deviates(col, True) | self.volume.deviates(col, False)))


class _Engine:
    def __init__(self, panels: Sequence[MetricPanel], params: DetectionParams) -> None:
        self.scorers: dict[tuple[str, str], _Scorer] = {}
        for panel in sorted(panels, key=lambda p: (p.property, p.metric not in COUNT_METRICS, p.metric)):
            mp = params.for_metric(panel.metric)
            scorer = _Scorer(panel, mp)
            if panel.metric in _VOLUME_BACKED:
                imp = self.scorers.get((panel.property, "impressions"))
                if imp is not None:
                    scorer.volume = _Scorer(_reindexed(imp.panel, panel), imp.mp)
                    scorer.denominators = scorer.volume.values if panel.metric in RATE_METRICS else None
            self.scorers[panel.property, panel.metric] = scorer

    def day(self, day: date) -> list[Finding]:
        found: list[Finding] = []
        for scorer in self.scorers.values():
            panel, mp = scorer.panel, scorer.mp
            cutoff = panel.last_final - timedelta(days=mp.detection_delay_days or 0)
            if day > cutoff or not panel.dates[0] <= day <= panel.dates[-1] or day in mp.exclude_dates:
                continue
            found.extend(_panel_findings(scorer, (day - panel.dates[0]).days))
        return sorted(found, key=finding_sort_key)


def _reindexed(source: MetricPanel, like: MetricPanel) -> MetricPanel:
    values = aligned(source, like.series, like.dates)
    return MetricPanel(source.property, source.metric, like.series, like.dates, values, source.last_final)


def _significant(scorer: _Scorer, p: FloatArray, testable: BoolArray) -> tuple[BoolArray, FloatArray]:
    """Top-level series alone at ``sensitivity``; BH across each dimension's children."""
    alpha = scorer.mp.sensitivity
    q = np.full(p.shape, np.nan)
    sig = np.zeros(p.shape, dtype=np.bool_)
    top = (scorer.groups == 0) & testable
    sig[top] = p[top] < alpha
    for rows in scorer.dims.values():
        idx = np.asarray(rows, dtype=np.int64)
        idx = idx[testable[idx]]
        if idx.size:
            q[idx] = sps.false_discovery_control(p[idx], method="bh")
            sig[idx] = q[idx] < alpha
    return sig, q


def _panel_findings(scorer: _Scorer, col: int) -> list[Finding]:
    s = scorer.at(col)
    delta = s.observed - s.expected
    p = scorer.p_values(s)
    with np.errstate(invalid="ignore"):
        up = delta > 0
        direction = scorer.mp.direction
        wanted = ~up if direction is DirectionFilter.DOWN else up if direction is DirectionFilter.UP else delta != 0
        testable = np.isfinite(delta) & np.isfinite(p) & scorer.volume_ok(s, col, delta)
    sig, q = _significant(scorer, p, testable)
    hits = np.flatnonzero(sig & testable & wanted & scorer.effect(s, col))
    if hits.size == 0:
        return []
    runs = {u: [scorer.deviates(col - k, u) for k in (1, 2, 3)] for u in (True, False)}
    stable = scorer.stable_volume(col)
    kinds: dict[int, Kind] = {}
    for i in hits.tolist():
        d1, d2, d3 = (bool(day[i]) for day in runs[bool(up[i])])
        if d1 and d2 and not d3:
            kinds[i] = Kind.LEVEL_SHIFT
        elif d1 + d2 + d3 >= 2:
            continue  # an ongoing shift, reported when it began
        elif scorer.model is Model.COUNT and not up[i] and s.observed[i] <= _OUTAGE_RATIO * s.expected[i]:
            kinds[i] = Kind.OUTAGE
        elif scorer.panel.metric in _VOLUME_BACKED and stable[i]:
            kinds[i] = Kind.RATE_CHANGE
        else:
            kinds[i] = Kind.SPIKE if up[i] else Kind.DROP
    kinds = _fold_children(scorer, kinds, s)
    return _assemble(scorer, col, s, p=p, q=q, kinds=kinds)


def _fold_children(scorer: _Scorer, kinds: dict[int, Kind], s: DayScores) -> dict[int, Kind]:
    """Drop child findings that the flagged total already explains.

    Each child's expectation is scaled by the total's observed/expected ratio (its share
    kept); children still significant against that (BH per dimension, ``sensitivity``,
    and ``min_change_pct``) stay, as do children moving against the total.
    """
    names = scorer.panel.series
    t = names.index(TOTAL_SERIES) if TOTAL_SERIES in names else -1
    if t not in kinds or not s.expected[t] > 0:
        return kinds
    ratio = max(float(s.observed[t] / s.expected[t]), 0.0)
    scaled = s.expected * ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = (s.upper - s.lower) / 3.92 * np.sqrt(ratio)
        z = (s.observed - scaled) / sd
        p = 2.0 * sps.norm.sf(np.abs(z))
        material = np.abs(s.observed - scaled) >= scorer.mp.min_change_pct * scaled
    stands = np.zeros(len(names), dtype=np.bool_)
    for rows in scorer.dims.values():
        idx = np.asarray(rows, dtype=np.int64)
        idx = idx[np.isfinite(p[idx])]
        if idx.size:
            stands[idx] = sps.false_discovery_control(p[idx], method="bh") < scorer.mp.sensitivity
    kept: dict[int, Kind] = {}
    for i, kind in kinds.items():
        same_way = (s.observed[i] - s.expected[i]) * (s.observed[t] - s.expected[t]) > 0
        if i != t and scorer.groups[i] != 0 and same_way and not (stands[i] and material[i] and scaled[i] > 0):
            continue
        kept[i] = kind
    return kept


def _assemble(
    scorer: _Scorer, col: int, s: DayScores, *, p: FloatArray, q: FloatArray, kinds: dict[int, Kind]
) -> list[Finding]:
    panel = scorer.panel
    rows = sorted(kinds)
    if not rows:
        return []
    charts = _charts(scorer, col, s, rows)
    out: list[Finding] = []
    for n, i in enumerate(rows):
        top = bool(scorer.groups[i] == 0)
        anomaly = Anomaly(
            property=panel.property,
            series=panel.series[i],
            metric=panel.metric,
            day=panel.dates[col],
            observed=float(s.observed[i]),
            expected=float(s.expected[i]),
            lower=float(s.lower[i]),
            upper=float(s.upper[i]),
            p_value=float(p[i]),
            q_value=None if top else float(q[i]),
            direction=Direction.UP if s.observed[i] > s.expected[i] else Direction.DOWN,
            kind=kinds[i],
        )
        parts: tuple[Contributor, ...] = ()
        if panel.series[i] == TOTAL_SERIES and scorer.model is Model.COUNT:
            dims = sorted(scorer.dims.values(), key=lambda rows: -_concentration(s, rows, anomaly))
            parts = contributors(panel.series, s.observed, s.expected, dims, change=anomaly.observed - anomaly.expected)
        level = severity(anomaly.kind, anomaly.change, direction=anomaly.direction, top_level=top)
        out.append(Finding(anomaly=anomaly, severity=level, contributors=parts, chart=charts[n]))
    return out


def _concentration(s: DayScores, rows: list[int], anomaly: Anomaly) -> float:
    """The largest share of the total's change that one child of a dimension explains."""
    change = anomaly.observed - anomaly.expected
    delta = np.nan_to_num(s.observed[rows] - s.expected[rows])
    return float(np.max(delta * np.sign(change), initial=0.0) / abs(change)) if change else 0.0


def _charts(scorer: _Scorer, col: int, s: DayScores, rows: list[int]) -> list[ChartData]:
    """Actual vs the expected band over the last 8 weeks up to ``col``, for ``rows`` only."""
    idx = np.asarray(rows, dtype=np.int64)
    values = scorer.values[idx]
    den = scorer.denominators[idx] if scorer.denominators is not None else None
    first = max(0, col - _CHART_DAYS + 1)
    band = np.full((3, idx.size, col + 1 - first), np.nan)
    for c in range(first, col + 1):
        day = score_day(
            values,
            c,
            model=scorer.model,
            training_days=scorer.mp.training_days,
            groups=scorer.groups[idx],
            denominators=den,
            fixed_pool=s.pool[idx],
        )
        band[:, :, c - first] = (day.expected, day.lower, day.upper)
    dates = scorer.panel.dates[first : col + 1]
    return [make_chart(dates, values[n, first : col + 1], band[0, n], band[1, n], band[2, n]) for n in range(idx.size)]


def detect(panels: Sequence[MetricPanel], params: DetectionParams, *, day: date) -> tuple[Finding, ...]:
    """Findings for ``day`` from data dated <= ``day``, most severe first (see module doc)."""
    return tuple(_Engine(panels, params).day(day))


def detect_range(
    panels: Sequence[MetricPanel], params: DetectionParams, *, start: date, end: date
) -> tuple[Finding, ...]:
    """Walk forward over ``start``..``end``: each day decided as :func:`detect` would on it.

    Ordered by day, then most severe first. Scores are shared between days, not data:
    the decision on D never sees a row dated after D.
    """
    engine = _Engine(panels, params)
    out: list[Finding] = []
    day = start
    while day <= end:
        out.extend(engine.day(day))
        day += timedelta(days=1)
    return tuple(out)
