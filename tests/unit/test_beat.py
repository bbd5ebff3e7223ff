"""The beat schedule: one entry per subscription, firing at local digest time all year."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from worker.beat import ZonedCrontab, ZonedEntry, build_schedule, decode_schedule, encode_schedule
from worker.settings import Settings, load_settings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

CONFIG = """
[[properties]]
name = "shop"
source = "demo"
id = "ga4"

[[properties]]
name = "shop-search"
source = "demo"
id = "gsc"

[[subscriptions]]
name = "marketing"
properties = ["shop", "shop-search"]
digest_at = "08:00"
timezone = "Europe/Berlin"

[[subscriptions]]
name = "seo-us"
properties = ["shop-search"]
digest_at = "07:30"
timezone = "America/New_York"
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "barometer.toml"
    path.write_text(CONFIG)
    return load_settings(path)


def zoned(settings: Settings, entry: str) -> ZonedCrontab:
    schedule = build_schedule(settings)[entry]["schedule"]
    assert isinstance(schedule, ZonedCrontab)
    return schedule


def test_one_digest_entry_per_subscription(settings: Settings) -> None:
    schedule = build_schedule(settings)

    assert sorted(schedule) == ["digest:marketing", "digest:seo-us", "flush_outbox"]
    assert schedule["digest:marketing"]["task"] == "barometer.digest"
    assert schedule["digest:marketing"]["args"] == ["marketing"]
    assert schedule["digest:seo-us"]["args"] == ["seo-us"]
    assert zoned(settings, "digest:marketing").zone == "Europe/Berlin"
    assert zoned(settings, "digest:seo-us").zone == "America/New_York"


def test_no_subscriptions_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text("")
    assert list(build_schedule(load_settings(path))) == ["flush_outbox"]  # older digests' rows still flush


@pytest.mark.parametrize(
    ("after", "local_day", "utc_hour"),
    [
        (datetime(2025, 1, 15, 12, 0, tzinfo=UTC), 16, 7),  # winter, CET = UTC+1
        (datetime(2025, 7, 15, 12, 0, tzinfo=UTC), 16, 6),  # summer, CEST = UTC+2
        (datetime(2025, 7, 16, 5, 59, tzinfo=UTC), 16, 6),  # same morning, a minute before
    ],
)
def test_berlin_digest_fires_at_local_eight_in_winter_and_summer(
    settings: Settings, after: datetime, local_day: int, utc_hour: int
) -> None:
    fire = zoned(settings, "digest:marketing").next_after(after)

    local = fire.astimezone(BERLIN)
    assert (local.day, local.hour, local.minute) == (local_day, 8, 0)
    assert fire.astimezone(UTC).hour == utc_hour


def test_new_york_digest_fires_at_its_own_local_time(settings: Settings) -> None:
    schedule = zoned(settings, "digest:seo-us")

    winter = schedule.next_after(datetime(2025, 1, 15, 18, 0, tzinfo=UTC)).astimezone(UTC)
    summer = schedule.next_after(datetime(2025, 7, 15, 18, 0, tzinfo=UTC)).astimezone(UTC)

    assert (winter.day, winter.hour, winter.minute) == (16, 12, 30)  # EST = UTC-5
    assert (summer.day, summer.hour, summer.minute) == (16, 11, 30)  # EDT = UTC-4


@pytest.mark.parametrize(
    ("last_run_local", "hours_until_next"),
    [
        (datetime(2025, 3, 29, 8, 0, tzinfo=BERLIN), 23),  # clocks go forward that night
        (datetime(2025, 10, 25, 8, 0, tzinfo=BERLIN), 25),  # clocks go back that night
    ],
)
def test_across_a_dst_change_the_next_run_is_still_eight_local(
    settings: Settings, last_run_local: datetime, hours_until_next: int
) -> None:
    last_run = last_run_local.astimezone(UTC)  # beat stores last_run_at in UTC

    fire = zoned(settings, "digest:marketing").next_after(last_run)

    assert (fire.astimezone(BERLIN).hour, fire.astimezone(BERLIN).minute) == (8, 0)
    assert fire - last_run == timedelta(hours=hours_until_next)


def test_celery_decides_due_at_local_eight_in_summer(settings: Settings) -> None:
    """Celery's own is_due, driven by a fixed clock, agrees with next_after."""
    schedule = zoned(settings, "digest:marketing")
    schedule.app = Celery("test", set_as_current=False)
    last_run = datetime(2025, 7, 15, 6, 0, 5, tzinfo=UTC)  # 08:00:05 CEST yesterday

    schedule.nowfun = lambda: datetime(2025, 7, 16, 5, 59, tzinfo=UTC)  # 07:59 CEST
    early = schedule.is_due(last_run)
    schedule.nowfun = lambda: datetime(2025, 7, 16, 6, 0, 1, tzinfo=UTC)  # 08:00:01 CEST
    on_time = schedule.is_due(last_run)

    assert early.is_due is False
    assert early.next == pytest.approx(60)
    assert on_time.is_due is True


def test_zone_survives_redbeat_json_and_pickle(settings: Settings) -> None:
    schedule = zoned(settings, "digest:marketing")

    from_json = decode_schedule(encode_schedule(schedule))
    from_pickle = pickle.loads(pickle.dumps(schedule))

    for copy in (from_json, from_pickle):
        assert isinstance(copy, ZonedCrontab)
        assert copy.zone == "Europe/Berlin"
        assert copy == schedule
        summer = copy.next_after(datetime(2025, 7, 15, 12, 0, tzinfo=UTC))
        assert summer.astimezone(UTC).hour == 6


def test_zones_make_schedules_differ(settings: Settings) -> None:
    berlin = zoned(settings, "digest:marketing")
    assert berlin != ZonedCrontab(minute=0, hour=8, zone="America/New_York")
    assert berlin == ZonedCrontab(minute=0, hour=8, zone="Europe/Berlin")


def test_entry_definition_keeps_the_zone(settings: Settings) -> None:
    """What the scheduler stores in Redis decodes back to the zoned schedule."""
    stored = encode_schedule({"name": "digest:marketing", "schedule": zoned(settings, "digest:marketing")})

    definition = ZonedEntry.decode_definition(stored)

    assert definition["schedule"].zone == "Europe/Berlin"
    assert definition["schedule"].hour == {8}


def test_a_weekly_subscription_fires_on_its_weekday_at_local_time(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(CONFIG.replace('digest_at = "08:00"', 'digest_at = "08:00"\ncadence = "weekly"\nweekday = "mon"'))
    weekly = zoned(load_settings(path), "digest:marketing")
    fire = weekly.next_after(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))  # a Wednesday
    local = fire.astimezone(BERLIN)
    assert (local.date().isoformat(), local.strftime("%a"), local.hour) == ("2026-12-07", "Mon", 8)
