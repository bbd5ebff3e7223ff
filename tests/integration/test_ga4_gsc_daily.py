"""Daily runs against the local fakes: the first run loads the training history, the next
one fetches only the new day plus the days still settling, and replaces them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from jobs import pipeline
from jobs.domain import PointFlag
from jobs.storage import repo
from tests.fakes.google_world import GoogleWorld
from worker import bootstrap
from worker.runtime import build as build_runtime
from worker.service import run_property
from worker.settings import Settings, load_settings

TODAY = date(2026, 3, 10)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


def _stored(settings: Settings, name: str) -> dict[tuple[date, str, str], tuple[float, PointFlag]]:
    engine = bootstrap.engine(settings)
    prop_id = repo.property_id(engine, name)
    assert prop_id is not None
    return {(o.day, o.series, o.metric): (o.value, o.flags) for o in repo.iter_points(engine, prop_id, prop_name=name)}


def test_ga4_next_run_fetches_only_new_and_settling_days(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123")
    for n in range(1, 120):
        prop.add(TODAY - timedelta(days=n), {"landingPage": "/"}, sessions=100)
    shop = {"name": "shop", "source": "ga4", "id": "properties/123", "account": "agency", "metrics": ["sessions"]}
    settings = load_settings(world.write_config(properties=[shop | {"breakdowns": ["landingPage"]}]))
    history = pipeline.history_days(settings.detection.params())

    first = run_property(build_runtime(settings), "shop", today=TODAY)

    assert first.data_date == TODAY - timedelta(days=2)
    (ranges,) = {tuple(r["dateRanges"][0].values()) for r in world.ga4.reports}
    assert ranges == (str(first.data_date - timedelta(days=history)), str(TODAY - timedelta(days=1)))
    stored = _stored(settings, "shop")
    assert stored[TODAY - timedelta(days=1), "total", "sessions"] == (100.0, PointFlag.INCOMPLETE)
    assert stored[TODAY - timedelta(days=2), "total", "sessions"] == (100.0, PointFlag.NONE)

    # GA4 finishes counting yesterday: more sessions arrive; a new day starts.
    prop.add(TODAY - timedelta(days=1), {"landingPage": "/"}, sessions=20)
    prop.add(TODAY, {"landingPage": "/"}, sessions=40)
    world.ga4.requests.clear()

    second = run_property(build_runtime(settings), "shop", today=TODAY + timedelta(days=1))

    assert world.ga4.count() == 1  # totals and the breakdown in one batch
    assert {tuple(r["dateRanges"][0].values()) for r in world.ga4.reports} == {
        (str(TODAY - timedelta(days=1)), str(TODAY))
    }
    assert second.points == 2 * 2
    stored = _stored(settings, "shop")
    assert stored[TODAY - timedelta(days=1), "total", "sessions"] == (120.0, PointFlag.NONE)
    assert stored[TODAY, "landingPage:/", "sessions"] == (40.0, PointFlag.INCOMPLETE)


def test_gsc_next_run_refetches_days_until_they_are_final(world: GoogleWorld) -> None:
    site = world.gsc.add_site("sc-domain:shop.example", final_through=TODAY - timedelta(days=3))
    for n in range(1, 120):
        site.add(TODAY - timedelta(days=n), {"query": "shoes"}, clicks=10, impressions=100, position=2.0)
    search = {"name": "search", "source": "gsc", "id": "sc-domain:shop.example", "account": "agency"}
    settings = load_settings(world.write_config(properties=[search]))

    first = run_property(build_runtime(settings), "search", today=TODAY)
    assert first.data_date == TODAY - timedelta(days=3)
    stored = _stored(settings, "search")
    assert stored[TODAY - timedelta(days=2), "total", "clicks"] == (10.0, PointFlag.INCOMPLETE)

    site.add(TODAY - timedelta(days=2), {"query": "shoes"}, clicks=5, impressions=50, position=2.0)
    site.final_through = TODAY - timedelta(days=2)
    before = len(world.gsc.queries)

    second = run_property(build_runtime(settings), "search", today=TODAY + timedelta(days=1))

    assert second.data_date == TODAY - timedelta(days=2)
    asked = {q["startDate"] for q in world.gsc.queries[before:] if q["startDate"] == q["endDate"]}
    assert asked == {str(TODAY - timedelta(days=n)) for n in (2, 1, 0)}  # not the 100+ final days again
    stored = _stored(settings, "search")
    assert stored[TODAY - timedelta(days=2), "total", "clicks"] == (15.0, PointFlag.NONE)
