"""Consecutive days of the real pipeline on the demo data (SQLite and PostgreSQL): each
problem is alerted once, later days hold it back as ongoing unless it escalates, and a
tracking break goes out immediately, once."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from alerts.history import problem_key
from jobs.storage import repo
from worker import bootstrap, db, service
from worker.runtime import build as build_runtime
from worker.settings import OutboxSettings, PropertySettings, Settings, StorageSettings, SubscriptionSettings

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
#: The demo's Search Console data is final through today - 3; its injected changes sit there.
LAST = date(2026, 11, 18)
GA4_LAST = date(2026, 11, 19)
SIZING = "shop-search|page:https://shop.example/guides/sizing|impressions|down"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue(f"{request.param}_url")
    if request.param == "postgres":
        engine = db.create_engine(url)
        db.upgrade(engine)
        engine.dispose()
    return Settings(
        storage=StorageSettings(database_url=url),
        outbox=OutboxSettings(dir=str(tmp_path / "outbox")),
        properties=(
            PropertySettings(name="shop", source="demo", id="ga4"),
            PropertySettings(name="shop-search", source="demo", id="gsc"),
        ),
        subscriptions=(
            SubscriptionSettings(
                name="marketing",
                properties=("shop", "shop-search"),
                email=("team@shop.example",),
                immediate=("outage",),
            ),
        ),
    )


def test_each_problem_is_alerted_once_unless_it_escalates(settings: Settings, tmp_path: Path) -> None:
    days = [LAST - timedelta(days=n) for n in (3, 2, 1, 0)]
    for day in days:
        report = service.run_daily(build_runtime(settings), data_date=day, now=lambda: NOW)
        assert report.failures == {}
        assert [(d.sent, d.pending, d.failed) for d in report.deliveries] == [(1, 0, 0)]
    engine = bootstrap.engine(settings)
    shown: dict[str, list[tuple[date, str]]] = defaultdict(list)
    held: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for day in days:
        digest = repo.find_digest(engine, "marketing", day)
        assert digest is not None
        for incident in digest.incidents:
            for f in (*incident.findings, *incident.suppressed):
                shown[problem_key(f)].append((day, incident.note))
        for h in digest.held_back:
            held[problem_key(h.finding)].append((day, h.reason))
    for key, showings in shown.items():
        for _, note in showings[1:]:
            assert "escalated" in note or "already alerted" in note, (key, showings)
    # the deindexed page (a level shift from LAST - 2 on) is told once, then held back as ongoing
    assert [day for day, _ in shown[SIZING]] == [LAST - timedelta(days=2)]
    assert [reason.split(":")[0] for _, reason in held[SIZING]] == ["ongoing", "ongoing"]


def test_a_tracking_break_is_alerted_immediately_once_and_the_digest_notes_it(
    settings: Settings, tmp_path: Path
) -> None:
    first = service.run_daily(
        build_runtime(settings), now=lambda: NOW
    )  # GA4 final through today - 2: the key events outage
    again = service.run_daily(build_runtime(settings), now=lambda: NOW + timedelta(hours=1))
    [alert] = [a for p in first.properties for a in p.alerts]
    assert (alert.property_name, alert.sent) == ("shop", 1)
    assert [a.digest_id for p in again.properties for a in p.alerts] == [alert.digest_id]  # the same alert, not resent
    engine = bootstrap.engine(settings)
    stored = repo.find_digest(engine, "marketing/alert/shop", GA4_LAST)
    assert stored is not None
    assert stored.immediate
    assert [f.anomaly.kind.value for f in stored.findings] == ["outage"]
    digest = repo.find_digest(engine, "marketing", GA4_LAST)
    assert digest is not None
    [outage_item] = [i for i in digest.incidents if i.lead.anomaly.kind.value == "outage"]
    assert outage_item.note == "already alerted at 07:00 UTC (immediate alert)"
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == [
        "2026-11-19-marketing-alert-shop-team@shop.example.eml",
        "2026-11-19-marketing-alert-shop.slack.json",
        "2026-11-19-marketing-team@shop.example.eml",
        "2026-11-19-marketing.all.html",  # more changes than the email shows in full
        "2026-11-19-marketing.slack.json",
    ]
