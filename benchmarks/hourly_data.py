"""Labelled hourly data for ``make eval`` and ``make bench``: GA4-like properties by the hour.

Each property has a total, channels and landing pages for ``sessions`` (and ``eventCount``
roughly three events a session), and ``keyEvents`` for the total and the channels. Shape:
a daily curve (quiet nights, a day or evening peak), a weekly pattern (B2B quiet weekends,
B2C busier ones), a slow trend, a shock per day shared by the whole property (log-normal,
~8%) and per-hour overdispersion (gamma-Poisson, relative excess 0.01-0.08 per series).

Planted in the evaluation weeks (labels in :class:`Event`):

* ``break_key``: keyEvents stop (0) on every series while sessions go on, 3-10 hours;
* ``break_all``: the whole tag is gone, every metric at 0-2% of normal, 2-8 hours;
* ``collapse``: one series' sessions at 10-40% of normal for 2-6 hours;
* ``spike``: one series' sessions at 3.5-6 times normal for 1-3 hours.

Events are placed only where their hours carry :data:`MIN_EVENT_VOLUME`. ``anomaly_free``
properties carry no event at all (the false-alarm measure). Everything
is drawn from ``numpy.random.default_rng(seed)``: the same seed, the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from jobs.hourly.domain import WEEK_HOURS, HourlyPanel

__all__ = ["Event", "HourlyProperty", "generate_property", "generate_set"]

CHANNELS = ("Organic Search", "Paid Search", "Direct", "Email", "Referral")
#: An event is planted only where its hours would carry at least this many counts (a
#: spike: twice this), so that it can be told from noise at all: keyEvents at zero for
#: hours that normally bring 3 is no evidence of anything.
MIN_EVENT_VOLUME = 30.0
#: Monday 00:00, local time: every generated property starts here.
EPOCH = datetime(2026, 9, 7)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # break_key | break_all | collapse | spike
    series: str  # the series it was planted on ("total" for breaks)
    metric: str  # the metric that shows it ("keyEvents" for break_key, "sessions" otherwise)
    start: int  # hour index
    end: int  # exclusive


@dataclass(frozen=True)
class HourlyProperty:
    name: str
    panels: tuple[HourlyPanel, ...]
    events: tuple[Event, ...]
    #: The first hour of the evaluation weeks (everything before is history).
    eval_start: int

    @property
    def hours(self) -> int:
        return self.panels[0].hours


def _daily_curve(rng: np.random.Generator) -> np.ndarray:
    peak = rng.uniform(11, 20)
    hours = np.arange(24)
    curve = (
        0.15
        + np.exp(-0.5 * ((hours - peak) / rng.uniform(3, 5)) ** 2)
        + 0.3 * np.exp(-0.5 * ((hours - peak + 5) / 2.5) ** 2)
    )
    return np.asarray(curve / curve.mean())


def _weekly(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:  # B2B: quiet weekends
        days = np.array([1.1, 1.15, 1.12, 1.08, 1.0, 0.55, 0.5])
    else:  # B2C: busier weekends
        days = np.array([0.9, 0.92, 0.95, 0.97, 1.05, 1.2, 1.15])
    return days * rng.uniform(0.95, 1.05, 7)


def generate_property(
    seed: int, *, name: str = "site", pages: int = 20, weeks: int = 11, eval_weeks: int = 2, events: bool = True
) -> HourlyProperty:
    """One property over ``weeks`` weeks (the last ``eval_weeks`` are evaluated)."""
    rng = np.random.default_rng(seed)
    hours = weeks * WEEK_HOURS
    t = np.arange(hours)
    day_shape = _daily_curve(rng)[t % 24]
    week_shape = _weekly(rng)[(t // 24) % 7]
    trend = np.exp(rng.uniform(-0.15, 0.15) * t / hours)
    shocks = np.exp(rng.normal(0.0, 0.08, weeks * 7))[t // 24]
    level = np.exp(rng.uniform(np.log(80), np.log(2500)))  # sessions per average hour
    base = level * day_shape * week_shape * trend * shocks

    channel_share = rng.dirichlet(np.full(len(CHANNELS), 2.0))
    page_share = rng.dirichlet(np.full(pages, 0.6))
    children = [f"sessionDefaultChannelGroup:{c}" for c in CHANNELS] + [f"landingPage:/p{i}" for i in range(pages)]
    shares = np.concatenate([channel_share, page_share])
    # children: own overdispersion around their share of the property's hour
    excess = rng.uniform(0.01, 0.08, len(children))
    child_mean = shares[:, None] * base[None, :]
    child = rng.poisson(rng.gamma(1.0 / excess[:, None], child_mean * excess[:, None]))
    channel_rows = child[: len(CHANNELS)].astype(float)
    sessions_total = channel_rows.sum(axis=0)
    conversion = rng.uniform(0.01, 0.05, len(CHANNELS))
    key_channels = rng.poisson(channel_rows * conversion[:, None]).astype(float)
    events_per = rng.uniform(2.5, 4.0)
    event_channels = rng.poisson(channel_rows * events_per).astype(float)
    sessions = np.vstack([sessions_total[None, :], child.astype(float)])
    key = np.vstack([key_channels.sum(axis=0)[None, :], key_channels])
    event_count = np.vstack([event_channels.sum(axis=0)[None, :], event_channels])

    eval_start = (weeks - eval_weeks) * WEEK_HOURS
    planted = _plant(rng, sessions, key, event_count, children, eval_start, hours) if events else ()
    series_all = ("total", *children)
    series_key = ("total", *children[: len(CHANNELS)])
    panels = (
        HourlyPanel(name, "sessions", series_all, EPOCH, sessions),
        HourlyPanel(name, "keyEvents", series_key, EPOCH, key),
        HourlyPanel(name, "eventCount", series_key, EPOCH, event_count),
    )
    return HourlyProperty(name, panels, planted, eval_start)


def _plant(
    rng: np.random.Generator,
    sessions: np.ndarray,
    key: np.ndarray,
    event_count: np.ndarray,
    children: list[str],
    eval_start: int,
    hours: int,
) -> tuple[Event, ...]:
    events: list[Event] = []
    busy = np.zeros(hours, dtype=bool)

    def slot(length: int, row: np.ndarray) -> int | None:
        """A free start whose hours carry at least :data:`MIN_EVENT_VOLUME` of ``row``."""
        for _ in range(200):
            start = int(rng.integers(eval_start + 6, hours - length - 1))
            enough = row[start : start + length].sum() >= MIN_EVENT_VOLUME
            if enough and not busy[max(0, start - 6) : start + length + 6].any():
                busy[start : start + length] = True
                return start
        return None

    for kind in rng.permutation(["break_key", "break_all", "collapse", "collapse", "spike", "spike"]):
        if kind == "break_key":
            length = int(rng.integers(3, 11))
            start = slot(length, key[0])
            if start is not None:
                key[:, start : start + length] = 0.0
                events.append(Event("break_key", "total", "keyEvents", start, start + length))
        elif kind == "break_all":
            length = int(rng.integers(2, 9))
            start = slot(length, sessions[0])
            if start is not None:
                keep = rng.uniform(0.0, 0.02)
                for m in (sessions, key, event_count):
                    m[:, start : start + length] = np.floor(m[:, start : start + length] * keep)
                events.append(Event("break_all", "total", "sessions", start, start + length))
        else:
            length = int(rng.integers(2, 7) if kind == "collapse" else rng.integers(1, 4))
            row = int(rng.integers(0, 1 + len(CHANNELS) + 3))  # the total, a channel or a page
            start = slot(length, sessions[row] * (1.0 if kind == "collapse" else 0.5))
            if start is None:
                continue
            factor = rng.uniform(0.1, 0.4) if kind == "collapse" else rng.uniform(3.5, 6.0)
            sessions[row, start : start + length] = np.round(sessions[row, start : start + length] * factor)
            series = "total" if row == 0 else children[row - 1]
            events.append(Event(str(kind), series, "sessions", start, start + length))
    return tuple(sorted(events, key=lambda e: e.start))


def generate_set(seeds: list[int], *, properties: int, free: int, pages: int = 20) -> list[HourlyProperty]:
    """``properties`` properties per seed with events and ``free`` without any."""
    out = []
    for seed in seeds:
        for i in range(properties + free):
            out.append(generate_property(seed * 1000 + i, name=f"s{seed}p{i}", pages=pages, events=i < properties))
    return out
