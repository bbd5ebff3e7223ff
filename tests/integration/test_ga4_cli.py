"""``barometer fetch`` and ``barometer export`` for a GA4 property, as a user runs them:
a real process, the real client library, a local fake Data API. What was served is
exactly what is stored and exported. Plus the GA4 backfill stopping on low quota and
resuming."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.backfill import Chunk
from jobs.errors import SourceQuotaError
from tests.fakes.google_ga4 import Ga4Property
from tests.fakes.google_world import GoogleWorld
from worker.backfill import backfill_property
from worker.runtime import build as build_runtime
from worker.settings import load_settings

BAROMETER = str(Path(sys.executable).with_name("barometer"))
TODAY = datetime.now(UTC).date()
# Well inside the past so that the real clock of the subprocess cannot move the range.
DAYS = [TODAY - timedelta(days=n) for n in range(40, 30, -1)]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


def _barometer(world: GoogleWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")} | world.env
    env["BAROMETER_CONFIG"] = str(world.root / "barometer.toml")
    return subprocess.run(
        [BAROMETER, *args], cwd=world.root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _populate(prop: Ga4Property, days: list[date]) -> None:
    channels = ("Organic Search", "Direct", "(other)")
    pages = ("/", "/pricing?utm_source=x,y", '/quote"d', "/ünïcode")
    for d, day in enumerate(days):
        for c, channel in enumerate(channels):
            for p, page in enumerate(pages):
                dims = {"sessionDefaultChannelGroup": channel, "landingPage": page}
                prop.add(day, dims, sessions=123_456_789 * (c + 1) + p + d, bounceRate=0.1 * (p + 1) + 0.0123 * c)


def _expected_csv(prop: Ga4Property, breakdowns: tuple[str, ...], metrics: tuple[str, ...]) -> list[list[str]]:
    sums: dict[tuple[str, str, str], float] = {}
    for day, dims, numbers in prop.facts:
        for series in ("total", *(f"{b}:{dims[b]}" for b in breakdowns)):
            for metric in metrics:
                key = (day.isoformat(), series, metric)
                sums[key] = sums.get(key, 0.0) + numbers[metric]
    rows = sorted(sums.items())
    return [[d, s, m, str(int(v)) if v.is_integer() else repr(v)] for (d, s, m), v in rows]


def test_fetch_stores_exactly_what_was_served_and_export_returns_it(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123456")
    _populate(prop, DAYS)
    breakdowns = ("sessionDefaultChannelGroup", "landingPage")
    metrics = ("sessions", "bounceRate")
    shop = {
        "name": "shop",
        "source": "ga4",
        "id": "properties/123456",
        "account": "agency",
        "timezone": "UTC",
        "metrics": list(metrics),
        "breakdowns": list(breakdowns),
    }
    world.write_config(properties=[shop])

    fetched = _barometer(world, "fetch", "--property", "shop", "--start", str(DAYS[0]), "--end", str(DAYS[-1]))
    assert fetched.returncode == 0, fetched.stderr
    expected = _expected_csv(prop, breakdowns, metrics)
    assert fetched.stdout == f"shop: stored {len(expected)} points from {DAYS[0]} to {DAYS[-1]}\n"

    exported = _barometer(world, "export", "--property", "shop")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    assert rows[0] == ["date", "series", "metric", "value"]
    assert rows[1:] == expected
    assert {r[0] for r in rows[1:]} == {d.isoformat() for d in DAYS}  # YYYYMMDD became ISO dates
    assert any(r[1] == 'landingPage:/quote"d' for r in rows)
    assert any(r[1] == "total" and r[2] == "sessions" and int(r[3]) > 2**31 for r in rows)  # int64 survives

    # Fetching the same range again changes nothing (idempotent upserts).
    again = _barometer(world, "fetch", "--property", "shop", "--start", str(DAYS[0]), "--end", str(DAYS[-1]))
    assert again.returncode == 0, again.stderr
    assert _barometer(world, "export", "--property", "shop").stdout == exported.stdout


def test_fetch_reports_a_source_failure_in_one_line(world: GoogleWorld) -> None:
    shop = {"name": "shop", "source": "ga4", "id": "properties/9", "account": "agency", "metrics": ["sessions"]}
    world.write_config(properties=[shop])
    result = _barometer(world, "fetch", "--property", "shop", "--start", str(DAYS[0]), "--end", str(DAYS[-1]))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: GA4 properties/9: account 'agency' has no access: 403 User does not have sufficient permissions "
        "for this property."
    ]


def test_backfill_stops_on_low_quota_and_the_next_run_continues(world: GoogleWorld) -> None:
    today = date(2026, 3, 10)
    days = [today - timedelta(days=n) for n in range(120, 1, -1)]
    # Each 28-day chunk costs 2 tokens: after the second one fewer than 2,000 are left.
    prop = world.ga4.add_property("123456", tokens_per_hour=2003)
    _populate(prop, days)
    shop = {"name": "shop", "source": "ga4", "id": "properties/123456", "account": "agency", "metrics": ["sessions"]}
    settings = load_settings(world.write_config(properties=[shop]))
    chunks: list[tuple[date, date]] = []

    def record(chunk: Chunk, points: int) -> None:
        chunks.append((chunk.start, chunk.end))

    with pytest.raises(SourceQuotaError, match=r"only 1999 quota tokens per hour left \(keeping 2000 in reserve\)"):
        backfill_property(build_runtime(settings), "shop", days=100, today=today, on_chunk=record)
    assert chunks == [(date(2025, 11, 29), date(2025, 12, 26)), (date(2025, 12, 27), date(2026, 1, 23))]
    assert world.ga4.count() == 2  # stopped before the third request

    prop.tokens_per_hour = 40_000  # an hour later
    report = backfill_property(build_runtime(settings), "shop", days=100, today=today, on_chunk=record)
    assert (report.days_loaded, report.days_skipped) == (44, 56)
    assert chunks[2:] == [(date(2026, 1, 24), date(2026, 2, 20)), (date(2026, 2, 21), date(2026, 3, 8))]
    assert world.ga4.count() == 4

    again = backfill_property(build_runtime(settings), "shop", days=100, today=today)
    assert (again.days_loaded, again.days_skipped) == (0, 100)
    assert world.ga4.count() == 4
