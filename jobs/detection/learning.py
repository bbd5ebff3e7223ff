"""Feedback that learns: analysts' labels move one series x metric's threshold, within bounds.

Replayed oldest first, per series x metric (a ``ctr`` label counts for ``ctr``):

- ``false_alarm`` on a finding with p-value ``p`` lowers the series' ``max_p_value`` to
  ``p / STEP`` (when that is lower than where it stands): the labelled finding would no
  longer fire, nor one like it. Never below ``max_p_value x FLOOR``: the series is never
  silenced, a large enough change still alerts.
- ``confirmed`` moves it back up by ``STEP`` (never above the metric's ``max_p_value``).
- ``expected`` does not move it (the change was real; its days leave the baselines).

The result is derived from the stored labels every run, so every change has a logged,
visible cause (the labels, with who and when, in the audit log) and ``barometer backtest``
lists the thresholds in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from jobs.detection.params import DetectionParams
from jobs.domain import Label

__all__ = ["FLOOR", "HISTORY_DAYS", "STEP", "Learned", "Verdict", "learn", "with_learned"]

#: How far one verdict moves a threshold.
STEP = 10.0
#: A learned threshold stays at or above this share of the metric's ``max_p_value``.
FLOOR = 1e-3
#: Labels on findings of this many past days count.
HISTORY_DAYS = 365


@dataclass(frozen=True, slots=True)
class Verdict:
    """An analyst's latest label on one stored finding."""

    day: date
    series: str
    metric: str
    label: Label
    p_value: float


@dataclass(frozen=True, slots=True)
class Learned:
    """A series x metric's learned ``max_p_value`` and the verdicts behind it."""

    series: str
    metric: str
    max_p_value: float
    default: float
    false_alarms: int
    confirmed: int

    def line(self) -> str:
        return (
            f"{self.metric} {self.series}: max_p_value {self.default:.2g} -> {self.max_p_value:.2g} "
            f"({self.false_alarms} false alarm(s), {self.confirmed} confirmed)"
        )


def learn(verdicts: Iterable[Verdict], *, default: Callable[[str], float]) -> dict[tuple[str, str], Learned]:
    """Per (metric, series), the threshold its verdicts lead to, where it differs from the
    metric's own ``max_p_value``, ``default(metric)`` (see the module docstring)."""
    state: dict[tuple[str, str], Learned] = {}
    for v in sorted(verdicts, key=lambda v: (v.day, v.metric, v.series)):
        if v.label is Label.EXPECTED:
            continue
        base = default(v.metric)
        key = (v.metric, v.series)
        now = state.get(key, Learned(v.series, v.metric, base, base, 0, 0))
        if v.label is Label.FALSE_ALARM:
            p = max(min(now.max_p_value, v.p_value / STEP), base * FLOOR)
            now = Learned(v.series, v.metric, p, base, now.false_alarms + 1, now.confirmed)
        else:
            now = Learned(
                v.series, v.metric, min(now.max_p_value * STEP, base), base, now.false_alarms, now.confirmed + 1
            )
        state[key] = now
    return {k: v for k, v in state.items() if v.max_p_value < v.default}


def with_learned(params: DetectionParams, prop: str, learned: Mapping[tuple[str, str], Learned]) -> DetectionParams:
    """``params`` with ``prop``'s learned thresholds in force."""
    if not learned:
        return params
    extra = {(prop, m, s): v.max_p_value for (m, s), v in learned.items()}
    return replace(params, learned={**params.learned, **extra})
