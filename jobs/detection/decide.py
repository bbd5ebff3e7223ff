"""The decision on one panel and day: which series are findings, of which kind.

- **Families.** Top-level series (totals) form one Benjamini-Hochberg family, the
  children of each dimension another; a series is significant when ``q < sensitivity``.
- **Effect and volume.** A finding also needs ``|change| >= min_change_pct``,
  ``|observed - expected| >= min_change_abs`` (for ``ctr`` counted in clicks) and volume:
  ``expected >= min_volume``, or ``observed >= min_volume`` for a rise (for ``ctr`` and
  ``position``: expected and observed impressions >= min_volume). ``direction`` other
  than both makes the test one-sided (for ``position`` "up" is a worse rank).
- **Runs of days.** A day is *off* when it is materially off with a one-sided tail below
  :data:`jobs.detection.scorer.LOOSE`. If the series was off the same way on the 2
  previous days (but not the 3rd), today is a LEVEL_SHIFT, tested on the three days'
  combined evidence (Stouffer) as well as on today's alone, so a sustained moderate move
  is found on its third day (at a bar 10x stricter than one day's) — unless it was off
  that way on 3 or more of the last 7 days (a shifted level drifting in and out of
  significance: ongoing, not new); off on 2 or 3 of the 3 previous days otherwise (or
  on 3 of the last 7), it is an ongoing shift, reported already and not again
  (after two whole weeks at the new level the baseline re-bases onto it) — unless today
  is significantly beyond the level of those days too (a new move on top of the old).
- **Never announced** (:mod:`jobs.detection.cusum`): an "ongoing" change is quiet only if
  it was announced in the 21 days before; otherwise a clearly off day is a LEVEL_SHIFT when
  the 21-day CUSUM fires, or when it is significant and further off than the 3 days before
  (not for a product moving with its volume factor). A three-day rise is a LEVEL_SHIFT only
  at one level (:meth:`jobs.detection.runs.Runs.steady`).
- **First, whatever came before** (:mod:`jobs.detection.bursts`): a burst is a SPIKE and
  a significant collapse to near zero an OUTAGE, even inside an ongoing shift.
- **Kinds.** Otherwise a count below 5% of expected is an OUTAGE, a ``ctr``/``position``
  move with impressions within ``min_change_pct`` of expected a RATE_CHANGE, anything else
  a DROP or SPIKE.
- **Learned thresholds.** ``max_p_value`` is per series: analysts' labels may have raised
  it (:mod:`jobs.detection.learning`).
- **Drill-down.** When a total moved (off today the same way, reported or ongoing), its
  children moving the same way are folded into it (they become its contributors) unless
  they still stand out against the total's own change (BH per dimension on the child
  scaled by the total's observed/expected).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from jobs.detection import erosion, noise
from jobs.detection.bursts import OUTAGE_RATIO, overrides
from jobs.detection.cusum import RUN_STRICTER, History, combined_z
from jobs.detection.explain import contributors, make_chart, severity
from jobs.detection.params import DirectionFilter
from jobs.detection.runs import ONGOING, Runs, z_scores
from jobs.detection.scorer import HISTORY_LOOKED_AT, Scorer
from jobs.detection.stats import DayScores, IntArray, Model
from jobs.domain import Anomaly, ChartData, Contributor, Direction, Finding, FloatArray, Kind, Severity

__all__ = ["explained_finding", "panel_findings"]

BoolArray = npt.NDArray[np.bool_]
_CHART_DAYS = HISTORY_LOOKED_AT
#: The three-day test's bar is :data:`jobs.detection.cusum.RUN_STRICTER` times a single
#: day's: runs of days share more than the model knows (a level drifting, a week of news).
_RUN_STRICTER = RUN_STRICTER
#: A day must be at least this far off (one-sided) for the three-day test to consider it.
_RUN_TODAY = 0.01
#: A child is judged against the rest of its site when the rest is at least this share of
#: the total's expected value (else against the total's own change).
_REST_SHARE = 0.1


def _bh(p: FloatArray, families: list[IntArray], alpha: float) -> tuple[BoolArray, FloatArray]:
    q = np.full(p.shape, np.nan)
    for family in families:
        idx = family[np.isfinite(p[family])]
        if idx.size:
            q[idx] = noise.bh(p[idx])
    with np.errstate(invalid="ignore"):
        return np.asarray(q < alpha), q


def _families(scorer: Scorer, testable: BoolArray) -> list[IntArray]:
    top = np.flatnonzero((scorer.groups == 0) & testable)
    out = [top] if top.size else []
    for rows in scorer.dims.values():
        idx = np.asarray(rows, dtype=np.int64)
        idx = idx[testable[idx]]
        if idx.size:
            out.append(idx)
    return out


def panel_findings(scorer: Scorer, col: int) -> list[Finding]:
    """The findings of ``scorer``'s panel on column ``col`` (see the module docstring)."""
    s = scorer.at(col)
    mp = scorer.mp
    p = scorer.p_values(s)
    with np.errstate(invalid="ignore"):
        delta = s.observed - s.expected
        up = delta > 0
        wanted = (
            ~up if mp.direction is DirectionFilter.DOWN else up if mp.direction is DirectionFilter.UP else delta != 0
        )
        testable = np.isfinite(delta) & np.isfinite(p) & scorer.volume_ok(s, col)
    effect = scorer.effect(s, col)
    families = _families(scorer, testable)
    sig, q = _bh(p, families, mp.sensitivity)
    with np.errstate(invalid="ignore"):
        sig &= p < scorer.max_p
    off_today = np.where(up, scorer.off(s, col, True), scorer.off(s, col, False)) & testable
    # runs are looked at for the significant and for the clearly off (one-sided p < 0.01):
    # a level shift found by its three days' evidence needs at least that today
    with np.errstate(invalid="ignore"):
        clear = off_today & (np.fmin(s.p_low, s.p_high) < _RUN_TODAY)
    first = overrides(scorer, s, col, eligible=wanted & testable & effect, sig=sig)
    listed = np.fromiter(first, dtype=np.int64, count=len(first))
    cand = np.union1d(np.flatnonzero((sig & effect & wanted & testable) | (clear & wanted)), listed)
    slide, sliding = _sliding(scorer, col, testable)
    if (cand := np.union1d(cand, sliding)).size == 0:
        return []
    parent = scorer.parents[cand]
    rows = np.unique(np.concatenate([cand, parent[parent >= 0]]))
    runs = Runs(scorer, col, rows, s)
    where = {int(r): n for n, r in enumerate(rows.tolist())}

    def prior(i: int, k: int) -> bool:
        return bool(runs.off[bool(up[i])][k][where[i]])

    def shifted(i: int, more: int = 0) -> bool:
        return int(runs.recent_off[bool(up[i])][where[i]]) >= ONGOING + more

    def steady(i: int) -> bool:  # a rise: three days at one level, not a burst fading
        return not up[i] or runs.steady(scorer, s, i, where[i])

    sig3 = _level_shift_test(scorer, col, s, runs=runs, rows=rows, eligible=clear & wanted, up=up, families=families)
    stable = scorer.stable_volume(col)
    kinds: dict[int, Kind] = {}
    pending: list[int] = []
    for i in cand.tolist():
        if not (effect[i] and wanted[i] and testable[i]):
            continue
        d1, d2, d3 = prior(i, 0), prior(i, 1), prior(i, 2)
        if i in first:
            if (kind := first[i]) is not None:
                kinds[i] = kind
        elif d1 and d2 and not d3 and off_today[i] and (sig[i] or sig3[i]) and not shifted(i, 1) and steady(i):
            kinds[i] = Kind.LEVEL_SHIFT
        elif not sig[i] or ((d1 + d2 + d3 >= 2 or shifted(i)) and not runs.beyond(scorer, s, i, where[i], bool(up[i]))):
            # not significant alone, or an ongoing shift: news only if the CUSUM fires or the
            # change was never announced (cand rows are significant or clearly off)
            pending.append(i)
        elif scorer.model is Model.COUNT and not up[i] and s.observed[i] <= OUTAGE_RATIO * s.expected[i]:
            kinds[i] = Kind.OUTAGE  # a collapse on its second day
        elif scorer.volume is not None and stable[i]:
            kinds[i] = Kind.RATE_CHANGE
        else:
            kinds[i] = Kind.SPIKE if up[i] else Kind.DROP
    kinds.update(
        _unannounced(scorer, col, s, np.asarray(pending, dtype=np.int64), runs=runs, where=where, sig=sig, up=up)
    )
    return _conclude(
        scorer, col, s, kinds, p=p, q=q, moving=off_today & testable, up=up, slide=slide, sliding=sliding, runs=runs,
        where=where,
    )  # fmt: skip


def _conclude(
    scorer: Scorer,
    col: int,
    s: DayScores,
    kinds: dict[int, Kind],
    *,
    p: FloatArray,
    q: FloatArray,
    moving: BoolArray,
    up: BoolArray,
    slide: erosion.Slide | None,
    sliding: IntArray,
    runs: Runs,
    where: dict[int, int],
) -> list[Finding]:
    """The day's findings from the kinds decided: children folded into their moving totals,
    and for a rate, the slides not decided otherwise (a level shift after a slide is none)."""
    if slide is None:
        return _assemble(scorer, col, s, p=p, q=q, kinds=_fold_children(scorer, kinds, s, moving))
    kinds = _fold_children(scorer, _after_slides(scorer, col, kinds, up), s, moving)
    rest = sliding[~np.isin(sliding, np.fromiter(kinds, dtype=np.int64, count=len(kinds)))]
    slides = _slides(scorer, col, s, rest, slide, runs=runs, where=where)
    return _assemble(scorer, col, s, p=p, q=q, kinds=kinds) + slides


def _sliding(scorer: Scorer, col: int, testable: BoolArray) -> tuple[erosion.Slide | None, IntArray]:
    """For a rate with a denominator (and ``slide_z`` on), the day's slide test of every row
    (:mod:`jobs.detection.erosion`) and the testable rows that slid the way that is wanted."""
    mp = scorer.mp
    if not erosion.applies(scorer) or mp.slide_z <= 0:
        return None, np.zeros(0, dtype=np.int64)
    slide = erosion.slid(scorer, col)
    ways = slide.up if mp.direction is DirectionFilter.UP else ~slide.up
    return slide, np.flatnonzero(slide.moved & testable & (ways | (mp.direction is DirectionFilter.BOTH)))


def _after_slides(scorer: Scorer, col: int, kinds: dict[int, Kind], up: BoolArray) -> dict[int, Kind]:
    """A rate's level shift or rate change the way it slid in the days before
    (:mod:`jobs.detection.erosion`) is that slide going on, told already: not news."""
    rows = np.asarray([i for i, k in kinds.items() if k in (Kind.LEVEL_SHIFT, Kind.RATE_CHANGE)], dtype=np.int64)
    if rows.size == 0:
        return kinds
    told = set(rows[~erosion.first_slide(scorer, col, rows, up[rows])].tolist())
    return {i: k for i, k in kinds.items() if i not in told}


def _slides(
    scorer: Scorer,
    col: int,
    s: DayScores,
    rows: IntArray,
    slide: erosion.Slide,
    *,
    runs: Runs,
    where: dict[int, int],
) -> list[Finding]:
    """Rates that slid (:mod:`jobs.detection.erosion`), reported on the first day they did
    unless the change was announced before: a RATE_CHANGE (a LEVEL_SHIFT when the
    denominator moved too) whose ``expected`` is today at the rate of the weeks before the
    slide (a CTR on today's weekday, conversions on today's sessions)."""
    if rows.size == 0:
        return []
    rows = rows[erosion.first_slide(scorer, col, rows, slide.up[rows])]
    if rows.size == 0:
        return []
    told = _history(scorer, col, s, rows, runs=runs, where=where, up=slide.up).announced(scorer.mp.cusum_threshold)
    rows = rows[~told]
    if rows.size == 0:
        return []
    expected = s.expected.copy()
    expected[rows] = erosion.expected_today(scorer, col, rows, slide, s.season[rows])
    p = np.full(expected.shape, np.nan)
    both = scorer.mp.direction is DirectionFilter.BOTH
    p[rows] = np.minimum(1.0, (2.0 if both else 1.0) * noise.norm_sf(np.abs(slide.z[rows])))
    kinds = {int(i): Kind.RATE_CHANGE if slide.steady[i] else Kind.LEVEL_SHIFT for i in rows}
    return _assemble(scorer, col, replace(s, expected=expected), p=p, q=np.full(p.shape, np.nan), kinds=kinds)


def _unannounced(
    scorer: Scorer,
    col: int,
    s: DayScores,
    rows: IntArray,
    *,
    runs: Runs,
    where: dict[int, int],
    sig: BoolArray,
    up: BoolArray,
) -> dict[int, Kind]:
    """Level shifts among ``rows`` (clearly off today, but not reported by the day's own
    tests): significant today, or the CUSUM fires (:mod:`jobs.detection.cusum`), and the
    change was not announced in the days before. The days the runs looked at are reused."""
    rows = rows[~_with_factor(scorer, col, rows, up)]
    if rows.size == 0:
        return {}
    h = scorer.mp.cusum_threshold
    news = (sig[rows] & _deepening(scorer, s, rows, runs=runs, where=where, up=up)) | _history(
        scorer, col, s, rows, runs=runs, where=where, up=up
    ).fires(h)
    rows = rows[news]
    if rows.size == 0:
        return {}
    told = _history(scorer, col, s, rows, runs=runs, where=where, up=up).announced(h)
    return dict.fromkeys(rows[~told].tolist(), Kind.LEVEL_SHIFT)


def _with_factor(scorer: Scorer, col: int, rows: IntArray, up: BoolArray) -> BoolArray:
    """Which ``rows`` of a product metric (clicks, keyEvents) move today with their volume
    factor (impressions, sessions), off the same way: that factor's change, judged there."""
    out = np.zeros(rows.size, dtype=np.bool_)
    factor = scorer.factor
    if factor is None or factor.panel.dates != scorer.panel.dates:
        return out
    index = {name: n for n, name in enumerate(factor.panel.series)}
    at = np.asarray([index.get(scorer.panel.series[int(i)], -1) for i in rows], dtype=np.int64)
    known = at >= 0
    if not known.any():
        return out
    s = factor.at(col)
    u = up[rows]
    moved = np.where(u, factor.off(s, col, True)[np.maximum(at, 0)], factor.off(s, col, False)[np.maximum(at, 0)])
    return np.asarray(known & moved)


def _deepening(
    scorer: Scorer, s: DayScores, rows: IntArray, *, runs: Runs, where: dict[int, int], up: BoolArray
) -> BoolArray:
    """Is today (weekday-adjusted) further off, the way it moved, than each of the 3 observed
    days before? A change still deepening (an erosion), not a level merely holding."""
    at = np.asarray([where[int(i)] for i in rows], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if scorer.model is Model.CONTINUOUS:
            now = s.observed[rows] - s.season[rows]
        else:
            now = s.observed[rows] / s.season[rows]
        before = np.stack([level[at] for level in runs.level], axis=1)
        sign = np.where(up[rows], 1.0, -1.0)
        deeper = (now[:, None] - before) * sign[:, None] > 0
    return np.asarray(np.all(deeper | ~np.isfinite(before), axis=1) & np.isfinite(now))


def _history(
    scorer: Scorer, col: int, s: DayScores, rows: IntArray, *, runs: Runs, where: dict[int, int], up: BoolArray
) -> History:
    at = np.asarray([where[int(i)] for i in rows], dtype=np.int64)
    u = up[rows]
    z = [np.where(u, a[at], b[at]) for a, b in zip(runs.days_z[True], runs.days_z[False], strict=True)]
    off = [np.where(u, a[at], b[at]) for a, b in zip(runs.days_off[True], runs.days_off[False], strict=True)]
    return History(scorer, col, rows, s, up=u, known=(z, off))


def _level_shift_test(
    scorer: Scorer,
    col: int,
    s: DayScores,
    *,
    runs: Runs,
    rows: IntArray,
    eligible: BoolArray,
    up: BoolArray,
    families: list[IntArray],
) -> BoolArray:
    """Stouffer's combination of the last 3 days for series off on all three, BH per family."""
    p3 = np.where(np.isfinite(s.expected), 1.0, np.nan)
    u = up[rows]
    both = scorer.mp.direction is DirectionFilter.BOTH
    three = eligible[rows] & np.where(u, runs.off[True][0] & runs.off[True][1], runs.off[False][0] & runs.off[False][1])
    if not three.any():
        return np.zeros(p3.shape, dtype=np.bool_)
    z0 = np.where(u, z_scores(s.p_high[rows]), z_scores(s.p_low[rows]))
    z1 = np.where(u, runs.z[True][0], runs.z[False][0])
    z2 = np.where(u, runs.z[True][1], runs.z[False][1])
    # the baseline's own error is shared by the three days: the mean of their z-scores has
    # variance (1/3 + c) / (1 + c), c the baseline's share of one day's variance
    combined = noise.norm_sf(combined_z(scorer, col, z0, z1, z2))
    p3[rows[three]] = np.minimum(1.0, (2.0 if both else 1.0) * combined[three])
    sig3, _ = _bh(p3, families, scorer.mp.sensitivity)
    with np.errstate(invalid="ignore"):
        return np.asarray(sig3 & (p3 < scorer.max_p * _RUN_STRICTER))


def _fold_children(scorer: Scorer, kinds: dict[int, Kind], s: DayScores, moving: BoolArray) -> dict[int, Kind]:
    """Drop child findings that their moving total already explains.

    Each child's expectation is scaled by how the rest of its site moved: the total less
    the child, observed over expected (the total's own ratio when the child is nearly all
    of it). Children still significant against that (BH per dimension, ``sensitivity``,
    and ``min_change_pct``) stay: a site-wide move folds every child that merely followed
    it, while a channel that fell alone stays next to the total it dragged down. Children
    moving against the total stay too.
    """
    kept: dict[int, Kind] = {}
    parents = scorer.parents
    ratio = np.ones(len(parents))
    folded = np.zeros(len(parents), dtype=np.bool_)
    for i in kinds:
        t = int(parents[i])
        if t >= 0 and moving[t] and s.expected[t] > 0:
            same = (s.observed[i] - s.expected[i]) * (s.observed[t] - s.expected[t]) > 0
            if same:
                folded[i] = True
                rest_expected = float(s.expected[t] - s.expected[i])
                if rest_expected > _REST_SHARE * float(s.expected[t]):
                    ratio[i] = max(float(s.observed[t] - s.observed[i]) / rest_expected, 0.0)
                else:
                    ratio[i] = max(float(s.observed[t] / s.expected[t]), 0.0)
    if not folded.any():
        return kinds
    scaled = s.expected * ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (s.observed - scaled) / (s.sd * np.maximum(ratio, np.sqrt(ratio)))
        p = np.where(folded, 2.0 * noise.norm_sf(np.abs(z)), np.nan)
        material = np.abs(s.observed - scaled) >= scorer.mp.min_change_pct * scaled
    stands, _ = _bh(p, [np.asarray(r, dtype=np.int64) for r in scorer.dims.values()], scorer.mp.sensitivity)
    for i, kind in kinds.items():
        if folded[i] and not (stands[i] and material[i] and scaled[i] > 0):
            continue
        kept[i] = kind
    return kept


def explained_finding(scorer: Scorer, col: int, row: int, *, like: Kind, up: bool) -> Finding | None:
    """The finding of ``row`` on ``col`` when a factor that explains it was found (``like``:
    that finding's kind): if it moved the ``up`` way materially and has the volume, as a
    drop or spike (a level shift or outage when so was the factor); else None."""
    s = scorer.at(col)
    with np.errstate(invalid="ignore"):
        moved = bool(s.observed[row] > s.expected[row]) if up else bool(s.observed[row] < s.expected[row])
    wanted = scorer.mp.direction is DirectionFilter.BOTH or (scorer.mp.direction is DirectionFilter.UP) == up
    if not (moved and wanted and scorer.effect(s, col)[row] and scorer.volume_ok(s, col)[row]):
        return None
    kind: Kind = like if like in (Kind.LEVEL_SHIFT, Kind.OUTAGE) else Kind.SPIKE if up else Kind.DROP
    p = scorer.p_values(s)
    return _assemble(scorer, col, s, p=p, q=np.full(p.shape, np.nan), kinds={row: kind})[0]


def _assemble(
    scorer: Scorer, col: int, s: DayScores, *, p: FloatArray, q: FloatArray, kinds: dict[int, Kind]
) -> list[Finding]:
    panel = scorer.panel
    rows = sorted(kinds)
    if not rows:
        return []
    charts: list[ChartData | None] = list(_charts(scorer, col, s, rows)) if scorer.charted else [None] * len(rows)
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
            lower=chart.lower[-1] if (chart := charts[n]) is not None else np.nan,
            upper=chart.upper[-1] if chart is not None else np.nan,
            p_value=float(p[i]),
            q_value=None if top or not np.isfinite(q[i]) else float(q[i]),
            direction=Direction.UP if s.observed[i] > s.expected[i] else Direction.DOWN,
            kind=kinds[i],
        )
        parts: tuple[Contributor, ...] = ()
        children = np.flatnonzero(scorer.parents == i)
        if children.size and scorer.model is Model.COUNT:
            dims = [[int(c) for c in children if scorer.groups[c] == g] for g in np.unique(scorer.groups[children])]
            dims.sort(key=lambda rows: -_concentration(s, rows, anomaly))
            parts = contributors(panel.series, s.observed, s.expected, dims, change=anomaly.observed - anomaly.expected)
        level = severity(anomaly.kind, anomaly.change, direction=anomaly.direction, top_level=top)
        if col in scorer.holiday_cols and anomaly.kind is not Kind.OUTAGE:
            level = Severity.LOW  # expected to be unusual: told, never as a high-severity drop
        out.append(Finding(anomaly=anomaly, severity=level, contributors=parts, chart=charts[n]))
    return out


def _concentration(s: DayScores, rows: list[int], anomaly: Anomaly) -> float:
    """The largest share of the total's change that one child of a dimension explains."""
    change = anomaly.observed - anomaly.expected
    delta = np.nan_to_num(s.observed[rows] - s.expected[rows])
    return float(np.max(delta * np.sign(change), initial=0.0) / abs(change)) if change else 0.0


def _charts(scorer: Scorer, col: int, s: DayScores, rows: list[int]) -> list[ChartData]:
    """Actual vs the expected band over the last 8 weeks up to ``col``, for ``rows`` only.
    A row's chart on a day depends on that day's scores (``s``, the same for every walk that
    shares them), so it is kept in ``scorer.charts`` and drawn once."""
    todo = [r for r in rows if (col, r) not in scorer.charts]
    if todo:
        idx = np.asarray(todo, dtype=np.int64)
        values = scorer.values[idx]
        first = max(0, col - _CHART_DAYS + 1)
        band = np.full((3, idx.size, col + 1 - first), np.nan)
        pool = s.pool.take(idx)
        for c in range(first, col + 1):
            day = scorer.rows_at(c, idx, pool, intervals=True)
            band[:, :, c - first] = (day.expected, day.lower, day.upper)
        dates = scorer.panel.dates[first : col + 1]
        for n, r in enumerate(todo):
            scorer.charts[col, r] = make_chart(dates, values[n, first : col + 1], band[0, n], band[1, n], band[2, n])
    return [scorer.charts[col, r] for r in rows]
