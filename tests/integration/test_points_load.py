"""Loading panels from the database: the aggregated fast path gives exactly the stored points."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa

from jobs.domain import Observation, PointFlag, PropertySpec
from jobs.storage import points, repo
from worker import db

D = date(2026, 2, 1)
SPEC = PropertySpec(name="site", source="csv")


def _stored(engine: sa.Engine, observations: list[Observation]) -> int:
    prop_id = repo.ensure_property(engine, SPEC)
    repo.upsert_points(engine, prop_id, observations)
    return prop_id


def test_every_stored_value_comes_back_in_its_place(engine: sa.Engine) -> None:
    rng = np.random.default_rng(3)
    observations: list[Observation] = []
    expected: dict[tuple[str, str, int], float] = {}
    for n in range(10):
        day = D + timedelta(days=n)
        names = ["total", *(f"query:q{i}" for i in range(12))]
        if n == 4:
            names.remove("query:q3")  # a day without one series
        if n >= 7:
            names.append("query:new ünïcode")  # a series that appears later
        for name in names:
            clicks = float(rng.poisson(50))
            position = round(float(rng.uniform(1, 20)), 2)
            observations += [
                Observation("site", name, "clicks", day, clicks),
                Observation("site", name, "position", day, position),
            ]
            expected[name, "clicks", n] = clicks
            expected[name, "position", n] = position
    observations.append(Observation("site", "query:q5", "clicks", D + timedelta(days=9), 7.0, PointFlag.INCOMPLETE))
    expected["query:q5", "clicks", 9] = math.nan
    prop_id = _stored(engine, observations)

    panels = {
        p.metric: p
        for p in repo.load_panels(engine, prop_id, prop_name="site", start=D, end=D + timedelta(days=9), last_final=D)
    }
    assert set(panels) == {"clicks", "position"}
    for (name, metric, n), value in expected.items():
        got = panels[metric].row(name)[n]
        assert (math.isnan(got) and math.isnan(value)) or got == value, (name, metric, n)
    assert panels["clicks"].series[0] == "total"
    assert math.isnan(panels["clicks"].row("query:q3")[4])
    assert np.isnan(panels["clicks"].row("query:new ünïcode")[:7]).all()
    assert int(np.isfinite(panels["clicks"].values).sum()) == 10 * 13 - 1 + 3 - 1


def test_a_name_with_the_separator_in_it_is_loaded_row_by_row(engine: sa.Engine) -> None:
    prop_id = _stored(
        engine,
        [
            Observation("site", "query:a\x1fb", "clicks", D, 3.0),
            Observation("site", "total", "clicks", D, 4.5),
        ],
    )
    fast = points.load_panels(engine, prop_id, prop_name="site", start=D, end=D, last_final=D)
    assert fast is None
    (panel,) = repo.load_panels(engine, prop_id, prop_name="site", start=D, end=D, last_final=D)
    assert panel.series == ("total", "query:a\x1fb")  # the same order as the fast path
    assert panel.values[:, 0].tolist() == [4.5, 3.0]


def test_the_day_first_key_migration_goes_both_ways_and_keeps_every_point(engine: sa.Engine) -> None:
    from alembic import command

    def layout() -> tuple[list[str], set[str]]:
        inspector = sa.inspect(engine)
        key = inspector.get_pk_constraint("metric_point")["constrained_columns"]
        return list(key), {str(ix["name"]) for ix in inspector.get_indexes("metric_point")}

    rng = np.random.default_rng(7)
    observations = [
        Observation("site", name, metric, D + timedelta(days=n), float(rng.integers(0, 1000)), PointFlag(n % 2 * 4))
        for n in range(30)
        for name in ("total", "page:/ä", 'query:"q"', "page:/b")
        for metric in ("clicks", "impressions")
    ]
    prop_id = _stored(engine, observations)

    def stored() -> set[tuple[str, str, date, float, int]]:
        got = repo.iter_points(engine, prop_id, prop_name="site")
        return {(o.series, o.metric, o.day, o.value, int(o.flags)) for o in got}

    before = stored()
    assert len(before) == len(observations)
    assert layout() == (["property_id", "metric", "day", "series"], set())
    config = db._config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    assert layout() == (["property_id", "metric", "series", "day"], {"ix_metric_point_metric_day"})
    assert stored() == before
    db.upgrade(engine)
    assert layout() == (["property_id", "metric", "day", "series"], set())
    assert stored() == before
    assert db.current_revision(engine) == db.head_revision()
    (panel, _) = repo.load_panels(engine, prop_id, prop_name="site", start=D, end=D + timedelta(days=29), last_final=D)
    assert panel.values.shape == (4, 30)


def test_whole_values_of_every_size_and_sign_come_back_exactly(engine: sa.Engine) -> None:
    signed = [0.0, 7.0, -5.0, 10.0**15 - 1, 10.0**15, 2.0**53 + 2, 1e17, -(10.0**15) + 1, 120.0, 3.0]
    counts = [0.0, 7.0, 10.0**15 - 1, 120.0, 3.0, 10.0**14, 5.0, 6.0, 1.0, 1.0]  # day 2: a 16-digit one
    names = [f"query:q{i}" for i in range(len(signed))]
    observations = [
        Observation("site", name, metric, D + timedelta(days=n), v * (n + 1))
        for metric, values in (("revenue", signed), ("sessions", counts))
        for n in range(2)
        for name, v in zip(names, values, strict=True)
    ]
    prop_id = _stored(engine, observations)
    panels = repo.load_panels(engine, prop_id, prop_name="site", start=D, end=D + timedelta(days=1), last_final=D)
    for panel, values in zip(panels, (signed, counts), strict=True):
        for name, value in zip(names, values, strict=True):
            assert panel.row(name).tolist() == [value, value * 2], (panel.metric, name)
