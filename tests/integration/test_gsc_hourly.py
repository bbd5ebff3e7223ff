"""Search Console by the hour, through google-api-python-client against the local fake.

The property is in Berlin, Search Console answers in Pacific time: rows come back keyed by
Pacific hours with their offset and are stored as the property's wall-clock hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jobs.domain import PointFlag
from jobs.errors import SourceError
from jobs.hourly import store
from jobs.hourly.domain import HourPoint
from jobs.sources.ga4_hourly import HourlyFetch
from jobs.storage import repo
from tests.fakes.google_world import GoogleWorld
from worker import bootstrap, db
from worker.google import clients
from worker.hourly import run_hourly
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings

BERLIN = ZoneInfo("Europe/Berlin")
SITE = "sc-domain:shop.example"
NOW = datetime(2026, 12, 8, 10, 40, tzinfo=UTC)  # Tuesday 11:40 in Berlin
COLLAPSE = datetime(2026, 12, 8, 8, 0)  # Berlin wall clock


def clicks_at(local: datetime) -> float:
    """Clicks in one Berlin hour: a daily curve, quieter weekends, a fixed wobble."""
    shape = 1.0 + 0.8 * math.sin((local.hour - 8) / 24 * 2 * math.pi)
    week = 1.0 if local.weekday() < 5 else 0.7
    wobble = 1.0 + ((local.toordinal() * 24 + local.hour) * 7919 % 100 - 50) / 1000
    return round(200.0 * shape * week * wobble)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as world:
        yield world


def _settings(world: GoogleWorld, monkeypatch: pytest.MonkeyPatch, *, extra: str = "") -> Settings:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    prop = {
        "name": "search",
        "source": "gsc",
        "id": SITE,
        "account": "agency",
        "timezone": "Europe/Berlin",
        "metrics": ["clicks", "impressions"],
        "breakdowns": ["page"],
        "hourly": True,
        "hourly_breakdowns": ["page"],
    }
    return load_settings(world.write_config(properties=[prop], extra=extra))


def _site_hours(world: GoogleWorld, *, first: date, until: datetime, collapse: datetime | None = None) -> None:
    """Hourly facts from ``first`` (Berlin) up to the UTC hour ``until`` (exclusive)."""
    site = world.gsc.sites.get(SITE) or world.gsc.add_site(SITE)
    local = datetime(first.year, first.month, first.day)
    while (moment := local.replace(tzinfo=BERLIN)).astimezone(UTC) < until:
        clicks = clicks_at(local) * (0.2 if collapse is not None and local >= collapse else 1.0)
        site.add_hour(moment, {"page": "https://shop.example/a"}, clicks=0.75 * clicks, impressions=20 * clicks)
        site.add_hour(moment, {"page": "https://shop.example/b"}, clicks=0.25 * clicks, impressions=5 * clicks)
        local += timedelta(hours=1)


def test_hourly_rows_are_read_by_the_hour_in_the_property_time_zone(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(world, monkeypatch)
    _site_hours(world, first=date(2026, 12, 7), until=NOW.replace(minute=0))
    world.gsc.sites[SITE].first_incomplete_hour = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    spec = settings.property("search").spec()
    source = clients.gsc_hourly_source(settings, spec, today=date(2026, 12, 8), engine=engine)

    plan = HourlyFetch(
        metrics=("clicks", "impressions"), breakdowns=("page",), start=date(2026, 12, 7), end=date(2026, 12, 8)
    )
    points = list(source.fetch_hours(spec, plan))

    totals = {p.hour: p.value for p in points if p.series == "total" and p.metric == "clicks"}
    assert min(totals) == datetime(2026, 12, 7, 0, 0)  # Berlin midnight, 15:00 the day before in California
    assert max(totals) == datetime(2026, 12, 8, 10, 0)
    assert len(totals) == 24 + 11
    assert totals[datetime(2026, 12, 7, 14, 0)] == clicks_at(datetime(2026, 12, 7, 14, 0))
    page = {p.hour: p.value for p in points if p.series == "page:https://shop.example/b" and p.metric == "impressions"}
    assert page[datetime(2026, 12, 8, 3, 0)] == 5 * clicks_at(datetime(2026, 12, 8, 3, 0))
    flagged = sorted({p.hour for p in points if p.flags & PointFlag.INCOMPLETE})
    assert flagged[0] == datetime(2026, 12, 8, 9, 0)
    bodies = world.gsc.queries
    assert {b["dataState"] for b in bodies} == {"hourly_all"}
    assert {tuple(b["dimensions"]) for b in bodies} == {("hour",), ("hour", "page")}
    # Berlin's two days lie on three Pacific days: each asked for once per dimension set
    assert sorted({b["startDate"] for b in bodies}) == ["2026-12-06", "2026-12-07", "2026-12-08"]
    assert all(b["startDate"] == b["endDate"] for b in bodies)


def test_a_property_without_hourly_data_is_told_in_one_line(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(world, monkeypatch)
    world.gsc.add_site(SITE, hourly=False)
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    spec = settings.property("search").spec()
    source = clients.gsc_hourly_source(settings, spec, today=date(2026, 12, 8), engine=engine)
    plan = HourlyFetch(metrics=("clicks",), breakdowns=(), start=date(2026, 12, 8), end=date(2026, 12, 8))
    with pytest.raises(SourceError) as caught:
        list(source.fetch_hours(spec, plan))
    message = str(caught.value)
    assert "\n" not in message
    assert SITE in message
    assert "Hourly data are not available" in message


def test_a_click_collapse_on_search_console_is_alerted_within_the_hour(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = """
[[subscriptions]]
name = "seo"
properties = ["search"]
email = ["seo@shop.example"]
immediate = ["outage", "drop", "spike"]
"""
    settings = _settings(world, monkeypatch, extra=extra)
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    prop_id = repo.ensure_property(engine, settings.property("search").spec())
    # five weeks of earlier hourly runs (Search Console itself keeps only the last 10 days)
    history = datetime(2026, 11, 1)
    earlier = []
    local = history
    while local < datetime(2026, 11, 29):
        earlier.append(HourPoint("search", "total", "clicks", local, clicks_at(local)))
        earlier.append(HourPoint("search", "total", "impressions", local, 25 * clicks_at(local)))
        local += timedelta(hours=1)
    store.upsert_hours(engine, prop_id, earlier, incomplete=set())
    _site_hours(world, first=date(2026, 11, 29), until=NOW.replace(minute=0), collapse=COLLAPSE)

    result = run_hourly(build_runtime(settings), "search", now=lambda: NOW)

    assert result.skipped == ""
    assert result.alerts == 1
    asked = sorted({b["startDate"] for b in world.gsc.queries})
    assert asked[0] >= "2026-11-28"  # the first run reads the 10 days Google keeps, not 9 weeks
    mail = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(mail) == 1
    text = mail[0].read_text()
    assert "Subject: Alert on search: clicks fell 80%" in text
    assert "Hourly watch: 08:00-10:00 local time (hourly)" in text
    assert "sudden drop" in text  # the kind in words


def test_the_hour_repeated_when_clocks_go_back_holds_both(world: GoogleWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(world, monkeypatch)
    site = world.gsc.add_site(SITE)
    moment = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Berlin: 00:00 on the 25th, clocks go back at 03:00
    while moment < datetime(2026, 10, 25, 23, 0, tzinfo=UTC):
        site.add_hour(moment, {}, clicks=10, impressions=100)
        moment += timedelta(hours=1)
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    spec = settings.property("search").spec()
    source = clients.gsc_hourly_source(settings, spec, today=date(2026, 10, 26), engine=engine)
    plan = HourlyFetch(metrics=("clicks",), breakdowns=(), start=date(2026, 10, 25), end=date(2026, 10, 25))

    clicks = {p.hour.hour: p.value for p in source.fetch_hours(spec, plan)}

    assert len(clicks) == 24
    assert clicks[2] == 20  # 02:00-03:00 summer time and 02:00-03:00 winter time
    assert sum(clicks.values()) == 250  # 25 hours that day
