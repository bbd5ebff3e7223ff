"""``make bench``: the hourly watch's run for one property of 5,000 series x 24 h x 8 weeks.

``hourly_run`` stores 5,000 series (a total, 4,999 landing pages) of hourly sessions over
nine weeks (the eight of the baseline and the reference week) in SQLite, then times what
one hourly run does after its fetch: load the hourly panels, judge the last three complete
hours and the hour in progress, store the findings. Beside it, in the same run, the
yardstick: daily detection (:func:`jobs.detection.engine.detect`) on 5,000 series x 63 days.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from jobs.domain import MetricPanel, PropertySpec
from jobs.hourly import store
from jobs.hourly.domain import HourPoint
from jobs.hourly.params import HourlyParams
from jobs.hourly.rules import newest_per_problem, score_panel
from jobs.storage import repo

__all__ = ["BENCHMARKS"]

SERIES = 5_000
DAYS = 63


def _values(rng: np.random.Generator) -> np.ndarray:
    hours = DAYS * 24
    t = np.arange(hours)
    shape = (0.3 + np.exp(-0.5 * ((t % 24 - 14) / 4) ** 2)) * np.where((t // 24) % 7 >= 5, 0.7, 1.0)
    level = rng.gamma(1.5, 4.0, SERIES)
    level[0] = level[1:].sum()
    return rng.poisson(level[:, None] * shape[None, :]).astype(np.float64)


def hourly_run(tmp: Path) -> str:
    """One property's hourly run after the fetch, 5,000 series x 24 h x 8 weeks, from SQLite."""
    from worker import db

    engine = db.create_engine(f"sqlite:///{tmp / 'hourly.db'}")
    db.upgrade(engine)
    spec = PropertySpec(name="bench", source="ga4", id="properties/1")
    prop_id = repo.ensure_property(engine, spec)
    rng = np.random.default_rng(7)
    values = _values(rng)
    names = ["total", *(f"landingPage:/p{i}" for i in range(1, SERIES))]
    first = date(2026, 10, 5)
    origin = datetime(first.year, first.month, first.day)

    def points() -> list[HourPoint]:
        return [
            HourPoint("bench", names[s], "sessions", origin + timedelta(hours=int(h)), float(values[s, h]))
            for s in range(SERIES)
            for h in range(values.shape[1])
        ]

    store.upsert_hours(engine, prop_id, points(), incomplete=set())
    last_day = first + timedelta(days=DAYS - 1)
    now = datetime(last_day.year, last_day.month, last_day.day, 20, 40)
    params = HourlyParams()
    started = time.perf_counter()
    panels = store.load_hourly(engine, prop_id, prop_name="bench", start=first, end=last_day)
    loaded = time.perf_counter() - started
    from jobs.hourly.domain import Frontier

    frontier = Frontier(now.replace(minute=0), partial=40 / 60)
    found = []
    for panel in panels:
        complete = panel.index(frontier.complete)
        found += score_panel(panel, frontier, params, targets=range(complete - 3, complete))
    stored = store.save_hourly_findings(engine, prop_id, newest_per_problem(found))
    seconds = time.perf_counter() - started
    yard = _yardstick(rng)
    engine.dispose()
    return (
        f"hourly run, 5,000 series x 24 h x 9 weeks from SQLite: {seconds:.2f}s (load {loaded:.2f}s), "
        f"{len(stored)} findings | yardstick, daily detect of 5,000 series x 63 days in memory: {yard:.2f}s"
    )


def _yardstick(rng: np.random.Generator) -> float:
    from jobs.detection.engine import detect
    from jobs.detection.params import DetectionParams

    end = date(2026, 6, 30)
    dates = tuple(end - timedelta(days=DAYS - 1 - i) for i in range(DAYS))
    level = rng.gamma(2.0, 60.0, size=(SERIES, 1))
    daily = rng.negative_binomial(20, 20 / (20 + level * np.ones((1, DAYS)))).astype(np.float64)
    names = ("total", *(f"landingPage:/p{i}" for i in range(1, SERIES)))
    panel = MetricPanel("bench", "sessions", names, dates, daily, last_final=end)
    started = time.perf_counter()
    detect([panel], DetectionParams(), day=end)
    return time.perf_counter() - started


BENCHMARKS: list[Callable[[Path], str]] = [hourly_run]
