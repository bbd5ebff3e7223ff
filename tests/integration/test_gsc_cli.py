"""``barometer fetch``, ``export`` and ``backfill`` for a Search Console site, as a user runs
them: a real process, the real google-api-python-client, a local fake API."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.google_gsc import GscSite
from tests.fakes.google_world import GoogleWorld
from worker.backfill import GSC_MONTHS, backfill_property, months_back
from worker.runtime import build as build_runtime
from worker.settings import load_settings

BAROMETER = str(Path(sys.executable).with_name("barometer"))
TODAY = datetime.now(UTC).date()
FINAL_THROUGH = TODAY - timedelta(days=3)
SITE = "sc-domain:shop.example"


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
        [BAROMETER, *args], cwd=world.root, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _populate(site: GscSite, days: list[date]) -> None:
    for d, day in enumerate(days):
        for q, query in enumerate(("running shoes", "trail, shoes", "schuhe größe")):
            for p, page in enumerate(("https://shop.example/", "https://shop.example/a?b=c&d=e")):
                clicks = float(q + p + d)
                site.add(
                    day,
                    {"query": query, "page": page},
                    clicks=clicks,
                    impressions=clicks * 13 + 1,
                    position=1.1 + q * 2.7 + p / 3,
                )


def _expected_csv(site: GscSite, breakdowns: tuple[str, ...]) -> list[list[str]]:
    sums: dict[tuple[str, str], list[float]] = {}
    for day, dims, clicks, impressions, position in site.facts:
        for series in ("total", *(f"{b}:{dims[b]}" for b in breakdowns)):
            acc = sums.setdefault((day.isoformat(), series), [0.0, 0.0, 0.0])
            acc[0] += clicks
            acc[1] += impressions
            acc[2] += position * impressions
    rows: list[list[str]] = []
    for (iso_day, series), (clicks, impressions, weighted) in sums.items():
        for metric, value in (("clicks", clicks), ("impressions", impressions), ("position", weighted / impressions)):
            rows.append([iso_day, series, metric, str(int(value)) if value.is_integer() else repr(value)])
    return sorted(rows)


def _config(world: GoogleWorld, breakdowns: tuple[str, ...] = ("query", "page")) -> Path:
    prop = {"name": "search", "source": "gsc", "id": SITE, "account": "agency", "timezone": "UTC"}
    return world.write_config(properties=[prop | {"breakdowns": list(breakdowns)}])


def test_fetch_stores_exactly_what_was_served_and_export_returns_it(world: GoogleWorld) -> None:
    days = [TODAY - timedelta(days=n) for n in range(40, 30, -1)]
    site = world.gsc.add_site(SITE, final_through=FINAL_THROUGH)
    _populate(site, days)
    _config(world)

    fetched = _barometer(world, "fetch", "--property", "search", "--start", str(days[0]), "--end", str(days[-1]))
    assert fetched.returncode == 0, fetched.stderr
    expected = _expected_csv(site, ("query", "page"))
    assert fetched.stdout == f"search: stored {len(expected)} points from {days[0]} to {days[-1]}\n"

    exported = _barometer(world, "export", "--property", "search")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    assert rows == [["date", "series", "metric", "value"], *expected]
    assert {r[1] for r in rows[1:]} >= {
        "page:https://shop.example/a?b=c&d=e",
        "query:trail, shoes",
        "query:schuhe größe",
    }


def test_backfill_resumes_after_an_interruption(world: GoogleWorld) -> None:
    days = [FINAL_THROUGH - timedelta(days=n) for n in range(19, -1, -1)]
    site = world.gsc.add_site(SITE, final_through=FINAL_THROUGH)
    _populate(site, days)
    site.broken_days = {days[7]}  # an outage on the 8th day
    _config(world, breakdowns=("query",))

    first = _barometer(world, "backfill", "--property", "search", "--days", "20")
    assert first.returncode == 1
    assert f"search: 20 day(s) to load from {days[0]} to {days[-1]}" in first.stderr
    assert "search" in first.stderr.splitlines()[-2]  # the progress bar
    assert first.stderr.splitlines()[-1] == (
        "error: Search Console sc-domain:shop.example: still failing after retries: 503 Backend Error "
        "(finished days are kept: rerun to continue)"
    )

    site.broken_days = set()
    asked = Counter(q["startDate"] for q in world.gsc.queries if q["startDate"] == q["endDate"])
    second = _barometer(world, "backfill", "--property", "search", "--days", "20")
    assert second.returncode == 0, second.stderr
    assert f"search: 13 day(s) to load from {days[0]} to {days[-1]}" in second.stderr
    assert second.stdout.startswith("search: loaded 13 day(s), ")
    assert second.stdout.rstrip().endswith("(7 day(s) done earlier)")
    again = Counter(q["startDate"] for q in world.gsc.queries if q["startDate"] == q["endDate"]) - asked
    assert sorted(again) == [d.isoformat() for d in days[7:]]  # the finished days were not asked again

    exported = _barometer(world, "export", "--property", "search")
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    assert rows[1:] == _expected_csv(site, ("query",))

    third = _barometer(world, "backfill", "--property", "search", "--days", "20")
    assert third.stdout.startswith("search: loaded 0 day(s), 0 points")
    restarted = _barometer(world, "backfill", "--property", "search", "--days", "20", "--restart")
    assert restarted.stdout.startswith("search: loaded 20 day(s), ")


def test_backfill_loads_sixteen_months_by_default(world: GoogleWorld) -> None:
    today = date(2026, 3, 10)
    site = world.gsc.add_site(SITE, final_through=date(2026, 3, 7))
    _populate(site, [date(2025, 1, 1), date(2026, 3, 7)])
    settings = load_settings(_config(world, breakdowns=()))

    report = backfill_property(build_runtime(settings), "search", today=today)

    assert report.start == months_back(today, GSC_MONTHS) == date(2024, 11, 10)
    assert report.end == date(2026, 3, 7)
    assert report.days_loaded == report.days_total == (report.end - report.start).days + 1
    assert report.points == 2 * 3  # two days with data, three metrics each


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--days", "5", "--start", "2026-01-01"), "error: --days and --start exclude each other: give one"),
        (("--days", "0"), "error: --days: expected a positive number of days, got 0"),
        (("--start", "2020-01-01"), "error: --start 2020-01-01: Search Console keeps 16 months, the oldest day is"),
        (("--start", "yesterday"), "error: --start: 'yesterday' is not a date in YYYY-MM-DD form"),
    ],
)
def test_backfill_rejects_bad_options_in_one_line(world: GoogleWorld, args: tuple[str, ...], message: str) -> None:
    world.gsc.add_site(SITE)
    _config(world)
    result = _barometer(world, "backfill", "--property", "search", *args)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
