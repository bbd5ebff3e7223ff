"""A property's size as the chunked run decides on it: its largest metric's series on that
metric's newest stored day, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from jobs.domain import Observation, PropertySpec
from jobs.storage import repo
from jobs.storage.sizes import stored_series

DAY = date(2026, 11, 18)


def test_the_largest_metric_on_its_newest_day_counts(engine: sa.Engine) -> None:
    prop = repo.ensure_property(engine, PropertySpec("shop", "csv"))
    assert stored_series(engine, prop) == 0
    points = [Observation("shop", f"page:/p{i}", "clicks", DAY, 1.0) for i in range(30)]
    points += [Observation("shop", f"page:/p{i}", "impressions", DAY - timedelta(days=1), 9.0) for i in range(50)]
    points += [Observation("shop", f"page:/p{i}", "impressions", DAY, 9.0) for i in range(40)]
    points += [
        Observation("shop", f"query:q{i}", "position", DAY - timedelta(days=d), 3.0) for i in range(45) for d in (5, 6)
    ]
    repo.upsert_points(engine, prop, points)
    other = repo.ensure_property(engine, PropertySpec("blog", "csv"))
    repo.upsert_points(engine, other, [Observation("blog", f"s{i}", "sessions", DAY, 1.0) for i in range(99)])

    assert stored_series(engine, prop) == 45  # position, on its own newest day
    assert stored_series(engine, other) == 99
