"""Event-level scoring of a detector's flags against labels.

- An event's **window** is ``[start, max(end, start + 2)]`` (a level shift: ``[start,
  start + 2]``, it should be reported once, not every day after).
- An event is **detected** when some flag of its series and metric falls in its window;
  several flags in one window are one detection.
- A flag in an event's window on a **consequence** of the event is neutral (neither a
  detection nor a false alarm): any series of the same site (the parent total, the
  children of a total's event, and the other breakdowns that share the traffic, e.g. the
  landing pages of a channel's spike) in the labelled metric or one that moves with it
  (``Label.also``: keyEvents with sessions, clicks with impressions or CTR).
- Every other flag is a **false alarm**, one per series x metric x day.

Precision = detected / (detected + false alarms); recall = detected / events; F1 their
harmonic mean; false alarms are also given per 1,000 scored series-days (series x metric
x day cells with data in the evaluated range).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from benchmarks.evaluation.generator import Label
from jobs.detection.panels import site_of

__all__ = ["Flag", "Score", "score"]


class Flag(NamedTuple):
    series: str
    metric: str
    day: date


class Rates:
    """Precision, recall and F1 of anything that counts ``events``, ``detected`` and
    ``false_alarms`` (the synthetic and the real-traffic scores alike)."""

    events: int
    detected: int
    false_alarms: int

    @property
    def precision(self) -> float:
        found = self.detected + self.false_alarms
        return self.detected / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Score(Rates):
    events: int
    detected: int
    false_alarms: int
    series_days: int
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (detected, events)
    missed: tuple[Label, ...] = ()
    false: tuple[Flag, ...] = ()

    @property
    def fa_per_1000(self) -> float:
        return 1000.0 * self.false_alarms / self.series_days if self.series_days else 0.0

    def __add__(self, other: Score) -> Score:
        kinds = {k: (0, 0) for k in {*self.by_kind, *other.by_kind}}
        for part in (self.by_kind, other.by_kind):
            for k, (d, n) in part.items():
                kinds[k] = (kinds[k][0] + d, kinds[k][1] + n)
        return Score(
            self.events + other.events,
            self.detected + other.detected,
            self.false_alarms + other.false_alarms,
            self.series_days + other.series_days,
            kinds,
            self.missed + other.missed,
            self.false + other.false,
        )


def _window(label: Label) -> tuple[date, date]:
    if label.kind == "level_shift":
        return label.start, label.start + timedelta(days=2)
    return label.start, max(label.end, label.start + timedelta(days=2))


def score(labels: Iterable[Label], flags: Iterable[Flag], *, series_days: int) -> Score:
    """Score ``flags`` against ``labels`` (see the module docstring for the rules)."""
    events = list(labels)
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_site: dict[str, list[Label]] = defaultdict(list)
    for n, lab in enumerate(events):
        by_key[lab.series, lab.metric].append(n)
        by_site[site_of(lab.series)].append(lab)
    hit = [False] * len(events)
    false: list[Flag] = []
    for flag in sorted(set(flags)):
        matched = False
        for n in by_key.get((flag.series, flag.metric), ()):
            lo, hi = _window(events[n])
            if lo <= flag.day <= hi:
                hit[n] = matched = True
        if matched:
            continue
        neutral = any(
            _window(lab)[0] <= flag.day <= _window(lab)[1] and flag.metric in (lab.metric, *lab.also)
            for lab in by_site.get(site_of(flag.series), ())
        )
        if not neutral:
            false.append(flag)
    kinds: Counter[str] = Counter(lab.kind for lab in events)
    found: Counter[str] = Counter(lab.kind for lab, h in zip(events, hit, strict=True) if h)
    return Score(
        events=len(events),
        detected=sum(hit),
        false_alarms=len(false),
        series_days=series_days,
        by_kind={k: (found[k], kinds[k]) for k in sorted(kinds)},
        missed=tuple(lab for lab, h in zip(events, hit, strict=True) if not h),
        false=tuple(false),
    )
