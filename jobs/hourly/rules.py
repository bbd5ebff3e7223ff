"""What the hourly watch alerts: tracking breaks, collapses and spikes, nothing else.

For each scored hour ``e`` (complete hours, and the hour in progress scaled by the
minutes elapsed, see :class:`jobs.hourly.domain.Frontier`):

* **tracking break** (``outage``), on a property's totals: over the trailing window of
  ``L`` hours ending at ``e`` (the shortest of :attr:`HourlyParams.break_windows` that
  suffices) the metric is at or below ``break_share`` of its expectation and the
  lower tail is below ``break_p_value``. Whether only this metric stopped while traffic
  continues, or everything did, the policy's inhibition sorts out (a sessions or event
  count break suppresses what follows from it). The Realtime API's last minutes are judged
  the same way, against the hourly expectation of the minutes they cover;
* **collapse** (``drop``), any series: every hour of a trailing window of
  ``collapse_hours`` to ``collapse_longest`` hours at least ``collapse_pct`` below its
  expectation (the hour in progress against the share its elapsed minutes make up), and
  the window's lower tail below ``collapse_p_value``;
* **spike**, any series: the hour at least ``spike_ratio`` times its expectation (itself at
  least ``min_expected`` for a whole hour), above it by at least ``min_expected``, the upper
  tail below ``max_p_value``.

Windows expected to carry fewer than ``min_expected`` counts are not judged. A window of
several hours sums the hours' excess variance in two parts: the share ``rho`` of the excess
that a day's hours have in common (a quiet day makes all its hours quiet together) and the
baseline's own error move together (``(sum sqrt(a) mu)^2``); the rest is each hour's own
(``sum a mu^2``), so a long window is not taken for as noisy as one hour blown up
(:func:`jobs.hourly.baseline.shared_share`).

Severity: every hourly finding on a total is critical (only big changes get this far),
on a breakdown child high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from jobs.detection.noise import pln_interval, pln_tails
from jobs.domain import TOTAL_SERIES, Anomaly, Direction, Finding, FloatArray, Kind, Severity
from jobs.hourly.baseline import Expectation, expectations, groups_of
from jobs.hourly.domain import HOUR, Frontier, HourlyFinding, HourlyPanel, RealtimeWindow
from jobs.hourly.params import HourlyParams

__all__ = ["is_total", "newest_per_problem", "score_panel"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_PRIORITY = {Kind.OUTAGE: 0, Kind.DROP: 1, Kind.SPIKE: 2}


def is_total(series: str) -> bool:
    """A property's total (``total``, or ``site/total`` in a file holding several sites)."""
    return series == TOTAL_SERIES or series.endswith("/" + TOTAL_SERIES)


@dataclass(frozen=True)
class _Window:
    """Sums over a window per series: observed, expected, and the excess variance split into
    the part the hours share (``shared``: ``sum sqrt(rho a) mu``, squared when used) and each
    hour's own (``own``: ``sum (1 - rho) a mu^2``)."""

    observed: FloatArray
    expected: FloatArray
    shared: FloatArray
    own: FloatArray

    @property
    def alpha(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.nan_to_num((self.shared**2 + self.own) / self.expected**2, nan=0.0))


def _filled(values: FloatArray, upto: int) -> FloatArray:
    """Counts: a missing row in an hour the source reported is a zero (Google omits empty
    rows); hours nobody reported (no series has a value) stay unknown."""
    missing = np.isnan(values)
    known: BoolArray = np.asarray(~missing.all(axis=0))
    known[upto:] = False
    missing &= known
    return np.where(missing, 0.0, values)


def score_panel(
    panel: HourlyPanel,
    frontier: Frontier,
    params: HourlyParams,
    *,
    targets: Sequence[int] = (),
    realtime: RealtimeWindow | None = None,
    break_p_value: float = 1e-5,
) -> list[HourlyFinding]:
    """Every finding of ``panel`` at the complete hours ``targets`` (column indices before
    ``frontier.complete``), the partial hour of ``frontier`` and ``realtime``'s minutes."""
    complete = panel.index(frontier.complete)
    if complete >= panel.hours:
        panel = panel.extended(complete - panel.hours + 1)
    ends = sorted({t for t in targets if 0 <= t < complete})
    partial = frontier.partial if 0 <= complete < panel.hours else 0.0
    if not ends and not partial and realtime is None:
        return []
    upto = complete + (1 if partial else 0)
    values = _filled(panel.values, upto)
    longest = max(*params.break_windows, params.collapse_hours)
    first = min([*ends, complete])
    lo, hi = max(0, first - longest + 1), min(panel.hours, max([*ends, complete]) + 1)
    exp = expectations(values, lo, hi, first, params, groups=groups_of(panel.series))
    scorer = _Scorer(panel, values, exp, params, break_p_value)
    found: list[HourlyFinding] = []
    for e in ends:
        found += scorer.breaks(e, 0.0)
        found += scorer.collapses(e)
        found += scorer.spikes(e, 1.0)
    if partial:
        found += scorer.breaks(complete, partial)
        found += scorer.collapses(complete, partial)
        found += scorer.spikes(complete, partial)
    if realtime is not None and realtime.metric == panel.metric:
        found += scorer.realtime(realtime)
    return found


class _Scorer:
    def __init__(
        self, panel: HourlyPanel, values: FloatArray, exp: Expectation, params: HourlyParams, break_p: float
    ) -> None:
        self.panel, self.values, self.exp, self.params, self.break_p = panel, values, exp, params, break_p
        self.totals = np.fromiter((is_total(s) for s in panel.series), dtype=bool, count=len(panel.series))
        self.independent = np.nan_to_num(exp.independent(), nan=0.0)

    def _window(self, start: int, end: int, partial: float = 0.0) -> _Window:
        """Sums over complete hours ``[start, end)`` plus ``partial`` of hour ``end``."""
        cols = slice(start - self.exp.lo, end - self.exp.lo)
        mu, alpha = self.exp.mu[:, cols], np.maximum(self.exp.alpha[:, cols], 0.0)
        independent = np.minimum(self.independent[:, None], alpha)
        observed = self.values[:, start:end].sum(axis=1)
        expected = mu.sum(axis=1)
        shared = (np.sqrt(alpha - independent) * mu).sum(axis=1)
        own = (independent * mu**2).sum(axis=1)
        if partial:
            p_mu, p_alpha = self.exp.at(end)
            p_alpha = np.maximum(p_alpha, 0.0)
            p_ind = np.minimum(self.independent, p_alpha)
            observed = observed + self.values[:, end]
            expected = expected + partial * p_mu
            shared = shared + np.sqrt(p_alpha - p_ind) * partial * p_mu
            own = own + p_ind * (partial * p_mu) ** 2
        return _Window(observed, expected, shared, own)

    def breaks(self, e: int, partial: float) -> list[HourlyFinding]:
        """Totals near zero over the shortest trailing window that shows it (ending at ``e``:
        complete hours through ``e``, or those before ``e`` plus ``partial`` of ``e``)."""
        out: list[HourlyFinding] = []
        open_rows = self.totals.copy()
        p = self.params
        for length in p.break_windows:
            start = e - length + (0 if partial else 1)
            if start < self.exp.lo or not open_rows.any():
                break
            w = self._window(start, e if partial else e + 1, partial)
            low = _near(w, open_rows, p.break_share, p.min_expected)
            hits = self._tested(w, low, self.break_p, lower=True)
            for row, p_value in hits:
                end = self.panel.hour_at(e) + (partial * HOUR if partial else HOUR)
                out.append(self._finding(row, w, p_value, kind=Kind.OUTAGE, start=self.panel.hour_at(start), end=end))
                open_rows[row] = False
        return out

    def collapses(self, e: int, partial: float = 0.0) -> list[HourlyFinding]:
        """Series at least ``collapse_pct`` below expectation in every hour of a trailing
        window of ``collapse_hours`` to ``collapse_longest`` complete hours ending at ``e``
        (with ``partial``: the complete hours before ``e`` and the elapsed share of ``e``,
        itself judged against that share of its expectation), with the window's lower tail
        below ``collapse_p_value``. The shortest window that shows it is reported: a longer
        one gives a small series the evidence two hours cannot."""
        p = self.params
        last = e if partial else e + 1  # end of the complete hours (exclusive)
        keep = 1.0 - p.collapse_pct
        first = max(self.exp.lo, last - p.collapse_longest)
        mu = self.exp.mu[:, first - self.exp.lo : last - self.exp.lo]
        with np.errstate(invalid="ignore"):
            down = self.values[:, first:last] <= keep * mu
            tail_ok = self.values[:, e] <= keep * partial * self.exp.at(e)[0] if partial else True
        run = np.zeros(len(self.panel.series), dtype=np.int64)  # trailing run of hours down
        still = np.asarray(tail_ok, dtype=bool) & np.ones_like(run, dtype=bool)
        for k in range(down.shape[1] - 1, -1, -1):
            still &= down[:, k]
            run += still
        end = self.panel.hour_at(e) + (partial * HOUR if partial else HOUR)
        open_rows = np.ones_like(still)
        out: list[HourlyFinding] = []
        for length in range(p.collapse_hours, p.collapse_longest + 1):
            start = last - length
            if start < self.exp.lo or not open_rows.any():
                break
            w = self._window(start, last, partial)
            candidates = open_rows & (run >= length) & (w.expected >= p.min_expected)
            for row, p_value in self._tested(w, candidates, p.collapse_p_value, lower=True):
                out.append(self._finding(row, w, p_value, kind=Kind.DROP, start=self.panel.hour_at(start), end=end))
                open_rows[row] = False
        return out

    def spikes(self, e: int, share: float) -> list[HourlyFinding]:
        p = self.params
        w = self._window(e, e + 1) if share >= 1.0 else self._window(e, e, share)
        with np.errstate(invalid="ignore"):
            big = (w.observed >= p.spike_ratio * w.expected) & (w.expected * share >= p.min_expected * share)
            big &= w.observed - w.expected >= p.min_expected
        end = self.panel.hour_at(e) + share * HOUR
        return [
            self._finding(row, w, p_value, kind=Kind.SPIKE, start=self.panel.hour_at(e), end=end)
            for row, p_value in self._tested(w, big & (w.expected > 0), p.max_p_value, lower=False)
        ]

    def realtime(self, window: RealtimeWindow) -> list[HourlyFinding]:
        """The Realtime API's minutes against the hourly expectation of the minutes they cover."""
        row = self.panel.series.index(TOTAL_SERIES) if TOTAL_SERIES in self.panel.series else -1
        if row < 0:
            return []
        expected, spread = 0.0, 0.0
        for k in range(window.minutes):
            minute = window.start + timedelta(minutes=k)
            index = self.panel.index(minute.replace(minute=0))
            if not self.exp.lo <= index < self.exp.lo + self.exp.mu.shape[1]:
                return []
            mu, alpha = self.exp.at(index)
            expected += float(mu[row]) / 60.0
            spread += float(np.sqrt(max(float(alpha[row]), 0.0)) * mu[row]) / 60.0
        if not np.isfinite(expected):
            return []
        n = len(self.panel.series)
        # the minutes of one half hour move together: all of their excess is shared
        w = _Window(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n))
        w.observed[row], w.expected[row], w.shared[row] = window.value, expected, spread
        mask = np.zeros(n, dtype=bool)
        mask[row] = True
        low = _near(w, mask, self.params.break_share, self.params.min_expected)
        return [
            self._finding(r, w, p_value, kind=Kind.OUTAGE, start=window.start, end=window.end, realtime=True)
            for r, p_value in self._tested(w, low, self.break_p, lower=True)
        ]

    def _tested(self, w: _Window, candidates: BoolArray, threshold: float, *, lower: bool) -> list[tuple[int, float]]:
        rows = np.flatnonzero(candidates & np.isfinite(w.expected) & np.isfinite(w.observed))
        if rows.size == 0:
            return []
        low, high = pln_tails(np.round(w.observed[rows]), w.expected[rows], w.alpha[rows])
        tail = low if lower else high
        return [(int(r), float(t)) for r, t in zip(rows, tail, strict=True) if t < threshold]

    def _finding(
        self,
        row: int,
        w: _Window,
        p_value: float,
        *,
        kind: Kind,
        start: datetime,
        end: datetime,
        realtime: bool = False,
    ) -> HourlyFinding:
        observed, expected = float(w.observed[row]), float(w.expected[row])
        lower, upper = pln_interval(np.array([expected]), np.array([w.alpha[row]]))
        series = self.panel.series[row]
        anomaly = Anomaly(
            property=self.panel.property,
            series=series,
            metric=self.panel.metric,
            day=(end - timedelta(minutes=1)).date(),
            observed=observed,
            expected=expected,
            lower=float(lower[0]),
            upper=float(upper[0]),
            p_value=p_value,
            q_value=None,
            direction=Direction.UP if kind is Kind.SPIKE else Direction.DOWN,
            kind=kind,
        )
        severity = Severity.CRITICAL if is_total(series) else Severity.HIGH
        return HourlyFinding(Finding(anomaly, severity), start=start, end=end, realtime=realtime)


def _near(w: _Window, rows: BoolArray, share: float, min_expected: float) -> BoolArray:
    with np.errstate(invalid="ignore"):
        return np.asarray(rows & (w.expected >= min_expected) & (w.observed <= share * w.expected))


def newest_per_problem(found: Sequence[HourlyFinding]) -> tuple[HourlyFinding, ...]:
    """One finding per series x metric: the most serious kind, then the newest window."""
    best: dict[tuple[str, str], HourlyFinding] = {}
    for h in found:
        a = h.finding.anomaly
        key = (a.series, a.metric)
        rank = (_PRIORITY[a.kind], -h.end.timestamp(), h.duration)
        held = best.get(key)
        if held is None or rank < (
            _PRIORITY[held.finding.anomaly.kind],
            -held.end.timestamp(),
            held.duration,
        ):
            best[key] = h
    return tuple(sorted(best.values(), key=lambda h: (_PRIORITY[h.finding.anomaly.kind], h.finding.anomaly.series)))
