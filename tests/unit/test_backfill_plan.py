"""Backfill planning and the discover output, as pure functions."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta

from jobs.backfill import Chunk, plan_chunks
from worker.backfill import months_back
from worker.google_discover import Discovery, FoundProperty, to_toml
from worker.settings import AccountSettings, PropertySettings, Settings


def _days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def test_chunks_are_runs_of_consecutive_days_at_most_n_long() -> None:
    start = date(2026, 1, 1)
    todo = _days(start, 10) + _days(date(2026, 1, 15), 3)
    assert plan_chunks(todo, chunk_days=4) == (
        Chunk(date(2026, 1, 1), date(2026, 1, 4)),
        Chunk(date(2026, 1, 5), date(2026, 1, 8)),
        Chunk(date(2026, 1, 9), date(2026, 1, 10)),
        Chunk(date(2026, 1, 15), date(2026, 1, 17)),
    )
    assert plan_chunks([], chunk_days=4) == ()
    assert [c.days for c in plan_chunks(todo, chunk_days=1)] == [1] * 13


def test_months_back_clips_to_the_shorter_month() -> None:
    assert months_back(date(2026, 3, 10), 16) == date(2024, 11, 10)
    assert months_back(date(2026, 6, 30), 16) == date(2025, 2, 28)
    assert months_back(date(2026, 1, 31), 1) == date(2025, 12, 31)
    assert months_back(date(2028, 6, 29), 4) == date(2028, 2, 29)


def test_discovered_names_are_unique_valid_and_skip_configured_ones() -> None:
    settings = Settings(
        accounts=(AccountSettings(name="agency", key_file="k.json"),),
        properties=(PropertySettings(name="shop", source="ga4", id="properties/1", account="agency"),),
    )
    found = Discovery(
        "agency",
        (
            FoundProperty("ga4", "properties/1", "Shop (account A)", "UTC", "Shop"),
            FoundProperty("ga4", "properties/2", "Shop (account A)", "UTC", "Shop"),
            FoundProperty("ga4", "properties/3", "Shop (account B)", "UTC", "Shop"),
            FoundProperty("ga4", "properties/4", "Ünïcode Shop!\n(account B)", "UTC", "Ünïcode   Shop!\n"),
            FoundProperty("gsc", "https://shop.example/", "siteOwner", "America/Los_Angeles"),
        ),
        (),
    )
    text = to_toml(found, settings)
    parsed = tomllib.loads(text)["properties"]
    assert [p["name"] for p in parsed] == ["shop-2", "shop-3", "unicode-shop", "shop.example-search"]
    assert "# ga4 properties/1: already configured as 'shop'" in text
    assert "# GA4 property: Ünïcode Shop! (account B)\n" in text  # a label never breaks out of its comment
    Settings(accounts=settings.accounts, properties=tuple(PropertySettings(**p) for p in parsed))  # valid
