"""Backfill planning, read-ahead and the discover output, without servers."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from jobs.backfill import Chunk, plan_chunks, prefetched
from jobs.domain import Observation
from jobs.errors import SourceTransientError
from worker.backfill import months_back
from worker.google.discover import Discovery, FoundProperty, to_toml
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


def _observations(n: int, *, fail_at: int | None = None) -> Iterator[Observation]:
    for i in range(n):
        if i == fail_at:
            raise SourceTransientError(f"outage at {i}")
        yield Observation("p", "total", "clicks", date(2026, 1, 1), float(i))


def test_prefetched_keeps_order_and_everything() -> None:
    got = [o.value for o in prefetched(_observations(12_345), batch=1000, depth=2)]
    assert got == [float(i) for i in range(12_345)]


def test_prefetched_raises_the_readers_error_after_what_was_read() -> None:
    seen: list[float] = []
    with pytest.raises(SourceTransientError, match="outage at 2500"):
        seen.extend(o.value for o in prefetched(_observations(5000, fail_at=2500), batch=1000))
    assert seen == [float(i) for i in range(2000)]  # whole batches only: the failing one is not half-delivered


def test_prefetched_stops_reading_when_the_consumer_stops() -> None:
    read: list[int] = []

    def source() -> Iterator[Observation]:
        for i in range(1_000_000):
            read.append(i)
            yield Observation("p", "total", "clicks", date(2026, 1, 1), float(i))

    stream = prefetched(source(), batch=100, depth=2)
    assert next(stream).value == 0.0
    stream.close()
    assert len(read) <= 100 * 4  # the batch handed out, two queued, one being read
