"""A weekly summary (``cadence = "weekly"``): the week's incidents still open in full, what
recovered during the week in one line each, over a real SQLite database and SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.domain import Finding, Kind, PropertySpec, Severity
from jobs.storage import repo
from tests.fakes import finding
from tests.fakes.smtp import SmtpServer
from worker import bootstrap, service
from worker.runtime import build as build_runtime
from worker.settings import PropertySettings, Settings, SMTPSettings, StorageSettings, SubscriptionSettings

DAY = date(2026, 12, 5)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings(sqlite_url: str, smtp: SmtpServer) -> Settings:
    weekly = SubscriptionSettings(
        name="marketing", properties=("shop",), email=("team@shop.example",), cadence="weekly", weekday="mon"
    )
    return Settings(
        storage=StorageSettings(database_url=sqlite_url),
        smtp=SMTPSettings(host="127.0.0.1", port=smtp.port, starttls=False, sender="barometer@shop.example"),
        properties=(PropertySettings(name="shop", source="csv"),),
        subscriptions=(weekly,),
    )


def _on(days_before: int, f: Finding) -> Finding:
    return replace(f, anomaly=replace(f.anomaly, day=DAY - timedelta(days=days_before)))


def test_the_weekly_summary_tells_what_is_open_and_what_recovered(settings: Settings, smtp: SmtpServer) -> None:
    engine = bootstrap.engine(settings)
    prop = repo.ensure_property(engine, PropertySpec(name="shop", source="csv"))
    tag = finding(metric="keyEvents", observed=0, expected=46, kind=Kind.OUTAGE, severity=Severity.CRITICAL)
    spike = finding(series="landingPage:/blog/launch", observed=95, expected=32, kind=Kind.SPIKE)
    drop = finding(observed=720, expected=1179)
    old = finding(metric="clicks", series="query:shoes", observed=500, expected=1000, property="shop")
    for days_before, f in ((4, old), (3, old), (2, tag), (0, tag), (0, drop), (9, spike)):
        repo.save_findings(engine, prop, [_on(days_before, f)])

    report = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: datetime(2026, 12, 7, 7, tzinfo=UTC)
    )
    assert report.sent == 1
    [received] = smtp.received
    subject = received.message["Subject"].strip()
    assert (
        subject == "Week to Dec 5: Key events tracking stopped; sessions fell 39% (2 still open, 1 recovered on shop)"
    )
    body = received.message.get_body(("plain",))
    assert body is not None
    text = str(body.get_content()).replace("\r\n", "\n")
    assert "shop · Week to Dec 5 · 2 still open" in text
    assert "1. Key events tracking stopped [critical, tracking stopped]" in text
    assert "Recovered this week:\n- Clicks on the query “shoes” fell 50% (last seen Dec 2)" in text
    assert "/blog/launch" not in text  # nine days ago: not this week
    stored = repo.load_digest(engine, report.digest_id or 0)
    assert stored is not None
    assert (stored.period_days, [f.anomaly.metric for f in stored.recovered]) == (7, ["clicks"])
