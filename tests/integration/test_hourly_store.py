"""Hourly points round trip through SQLite and PostgreSQL: what is stored is what is loaded."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from jobs.domain import PropertySpec
from jobs.hourly import store
from jobs.hourly.domain import HourPoint
from jobs.storage import repo

SPEC = PropertySpec(name="shop", source="ga4", id="properties/1")
DAY = date(2026, 12, 1)


def _at(day: int, hour: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day) + timedelta(days=day, hours=hour)


def test_points_load_into_one_panel_per_metric_with_gaps_as_nan(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    points = [
        HourPoint("shop", "total", "sessions", _at(0, 0), 5.0),
        HourPoint("shop", "total", "sessions", _at(2, 23), 7.0),
        HourPoint("shop", "landingPage:/it's", "sessions", _at(1, 10), 3.0),
        HourPoint("shop", "total", "keyEvents", _at(1, 1), 1.0),
        HourPoint("shop", "total", "keyEvents", _at(9, 1), 4.0),  # after ``end``
    ]
    store.upsert_hours(engine, prop_id, points, incomplete=set())

    panels = store.load_hourly(engine, prop_id, prop_name="shop", start=DAY, end=DAY + timedelta(days=2))

    assert [p.metric for p in panels] == ["keyEvents", "sessions"]
    keys, sessions = panels
    assert sessions.series == ("total", "landingPage:/it's")
    assert sessions.start == _at(0, 0)
    assert sessions.hours == 72
    assert sessions.values[0, 0] == 5.0
    assert sessions.values[0, 71] == 7.0
    assert sessions.values[1, 34] == 3.0
    assert np.isnan(sessions.values).sum() == 2 * 72 - 3
    assert keys.series == ("total",)
    assert keys.values[0, 25] == 1.0
    assert np.nansum(keys.values) == 1.0


def test_only_the_metrics_asked_for_are_loaded(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    store.upsert_hours(
        engine,
        prop_id,
        [HourPoint("shop", "total", m, _at(0, 3), 2.0) for m in ("sessions", "keyEvents", "eventCount")],
        incomplete=set(),
    )
    panels = store.load_hourly(engine, prop_id, prop_name="shop", start=DAY, end=DAY, metrics=["eventCount", "nope"])
    assert [p.metric for p in panels] == ["eventCount"]
    assert store.load_hourly(engine, prop_id, prop_name="shop", start=DAY + timedelta(days=5), end=DAY) == ()
