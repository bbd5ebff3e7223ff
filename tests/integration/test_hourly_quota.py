"""Hourly fetches never starve the daily run: GA4's token reserve and Search Console's
per-minute share hold under hourly load, through the real client libraries and the fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.errors import BarometerError
from jobs.sources.ga4_hourly import HourlyFetch, reserve_for
from jobs.sources.limits import RateLimiter
from tests.fakes.google_world import GoogleWorld
from worker import bootstrap, db
from worker.google import clients
from worker.hourly import run_hourly
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings

NOW = datetime(2026, 12, 7, 10, 10, tzinfo=UTC)
RESERVE = reserve_for(0.5)["tokens_per_project_per_hour"]  # 7,000 of the project's 14,000 an hour


def traffic(start: datetime, end: datetime) -> dict[str, float]:
    minutes = (end - start) / timedelta(minutes=1)
    return {"sessions": 10.0 * minutes, "eventCount": 30.0 * minutes, "keyEvents": 1.0 * minutes}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as world:
        yield world


def _settings(world: GoogleWorld, monkeypatch: pytest.MonkeyPatch, prop: dict[str, object]) -> Settings:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    return load_settings(world.write_config(properties=[prop], extra="[hourly]\nga4_reserve_share = 0.5\n"))


def test_repeated_hourly_runs_leave_the_daily_run_its_ga4_reserve(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(NOW)
    # earlier work this hour left the project 7,010 tokens: just above the daily run's reserve
    prop = world.ga4.add_property("123", time_zone="UTC", traffic=traffic, clock=clock, tokens_used=6_990)
    day = date(2026, 12, 5)
    prop.add(day, {"sessionDefaultChannelGroup": "Direct"}, sessions=14_400, keyEvents=1_440)
    spec = {
        "name": "shop",
        "source": "ga4",
        "id": "properties/123",
        "account": "agency",
        "timezone": "UTC",
        "metrics": ["sessions", "keyEvents"],
        "breakdowns": ["sessionDefaultChannelGroup"],
        "hourly": True,
    }
    settings = _settings(world, monkeypatch, spec)
    db.upgrade(bootstrap.engine(settings))

    outcomes = []
    for run in range(30):  # hourly load: beat's runs, retries, manual runs within the hour
        clock.at = NOW + timedelta(minutes=run)
        try:
            result = run_hourly(build_runtime(settings), "shop", now=clock)
            outcomes.append(result.skipped or "ran")
        except BarometerError as exc:
            outcomes.append(str(exc))
    left = 14_000 - prop.tokens_used

    assert outcomes[0] == "ran"
    assert any("reserve" in o for o in outcomes), outcomes
    assert left >= RESERVE - 10, f"the hourly watch spent the daily run's reserve: {left} tokens left"
    first_skip = next(i for i, o in enumerate(outcomes) if "reserve" in o)
    assert all("reserve" in o for o in outcomes[first_skip:]), outcomes
    sent = world.ga4.count(":batchRunReports")
    assert sent == first_skip, f"{sent} Data API requests in {first_skip} runs: asked again below the reserve"

    engine = bootstrap.engine(settings)
    daily = clients.ga4_source(settings, settings.property("shop").spec(), today=date(2026, 12, 7), engine=engine)
    observations = list(daily.fetch(settings.property("shop").spec(), start=day, end=day))
    assert {(o.series, o.metric, o.value) for o in observations} >= {("total", "sessions", 14_400.0)}


def test_hourly_search_console_queries_leave_the_daily_run_its_share_of_every_minute(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = world.gsc.add_site("sc-domain:shop.example")
    day = date(2026, 12, 4)
    site.add(day, {}, clicks=120, impressions=4_000, position=4.0)
    hour = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    while hour < NOW:
        site.add_hour(hour, {}, clicks=5, impressions=150)
        hour += timedelta(hours=1)
    spec = {
        "name": "search",
        "source": "gsc",
        "id": "sc-domain:shop.example",
        "account": "agency",
        "timezone": "UTC",
        "metrics": ["clicks", "impressions"],
        "hourly": True,
    }
    settings = _settings(world, monkeypatch, spec)
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    source_spec = settings.property("search").spec()
    minute = [0.0]
    waits: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        minute[0] += seconds

    per_minute = 8
    shared = RateLimiter(rate=per_minute, per=60.0, clock=lambda: minute[0], sleep=sleep)
    hourly_budget = RateLimiter(rate=per_minute // 2, per=60.0, clock=lambda: minute[0], sleep=sleep)
    hourly = clients.gsc_hourly_source(
        settings, source_spec, today=NOW.date(), engine=engine, limiter=shared, hourly_limiter=hourly_budget
    )
    plan = HourlyFetch(metrics=("clicks", "impressions"), breakdowns=(), start=date(2026, 12, 1), end=NOW.date())

    for _ in range(3):  # three hourly runs back to back, nine Pacific days each
        started = minute[0]
        points = list(hourly.fetch_hours(source_spec, plan))
        waits.append(("hourly", minute[0] - started))
        assert points

    daily = clients.gsc_source(settings, source_spec, today=NOW.date(), engine=engine, limiter=shared)
    started = minute[0]
    observations = list(daily.fetch(source_spec, start=day, end=day))
    daily_wait = minute[0] - started

    assert any(wait > 0 for _, wait in waits), "the hourly load never reached its budget"
    assert daily_wait == 0.0, f"the daily run waited {daily_wait:.0f} s behind the hourly watch"
    assert ("total", "clicks", 120.0) in {(o.series, o.metric, o.value) for o in observations}
