"""An incident the hourly watch already alerted is one line in the next daily digest:
"alerted at 10:40 (hourly watch)", in the property's local time, instead of in full.

Real SQLite; the hourly incident is stored as the hourly watch stores it (finding, incident
row, the time its alert first reached someone), then the daily digest is built and sent
over a real SMTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from jobs.domain import Finding, Kind, PropertySpec, Severity
from jobs.hourly import store
from jobs.hourly.domain import HourlyFinding
from jobs.storage import repo
from tests.fakes import finding
from tests.fakes.smtp import SmtpServer
from worker import bootstrap, service
from worker.runtime import build as build_runtime
from worker.settings import PropertySettings, Settings, SMTPSettings, StorageSettings, SubscriptionSettings

DAY = date(2026, 12, 5)
BERLIN = "Europe/Berlin"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings(sqlite_url: str, smtp: SmtpServer) -> Settings:
    return Settings(
        storage=StorageSettings(database_url=sqlite_url),
        smtp=SMTPSettings(host="127.0.0.1", port=smtp.port, starttls=False, sender="barometer@shop.example"),
        properties=(PropertySettings(name="shop", source="csv", timezone=BERLIN),),
        subscriptions=(SubscriptionSettings(name="marketing", properties=("shop",), email=("team@shop.example",)),),
    )


def _on(day: date, f: Finding) -> Finding:
    return replace(f, anomaly=replace(f.anomaly, day=day))


def test_the_daily_digest_says_alerted_at_instead_of_repeating_an_hourly_incident(
    settings: Settings, smtp: SmtpServer
) -> None:
    engine = bootstrap.engine(settings)
    prop = repo.ensure_property(engine, PropertySpec(name="shop", source="csv", timezone=BERLIN))
    outage = finding(metric="keyEvents", observed=0, expected=46, kind=Kind.OUTAGE, severity=Severity.CRITICAL)
    sessions = finding(observed=720, expected=1179)
    repo.save_findings(engine, prop, [_on(DAY, outage), _on(DAY, sessions)])
    # the hourly watch saw the tag break at 09:00 local and its alert went out at 09:40 UTC (10:40 in Berlin)
    hourly = HourlyFinding(
        _on(DAY, outage),
        start=datetime(2026, 12, 5, 9, 0),
        end=datetime(2026, 12, 5, 10, 0),
    )
    stored = store.save_hourly_findings(engine, prop, [hourly])
    store.record_incidents(engine, prop, stored, at=datetime(2026, 12, 5, 9, 10, tzinfo=UTC))
    store.set_alerted(engine, [stored[0].finding.id or 0], at=datetime(2026, 12, 5, 9, 40, tzinfo=UTC))

    report = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    )
    assert report.sent == 1
    [received] = smtp.received
    body = received.message.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "- Key events tracking stopped (expected about 46, got 0) (alerted at 10:40 (hourly watch))" in text
    assert "1. Sessions fell 39% [high, sudden drop]" in text
    assert "Key events tracking stopped [critical" not in text  # not repeated in full
    assert received.message["Subject"].strip().endswith("(2 changes on shop)")
    # a re-delivery renders the same: the note is stored with the digest's layout
    again = repo.load_digest(engine, report.digest_id or 0)
    assert again is not None
    assert [i.alerted for i in again.incidents] == ["alerted at 10:40 (hourly watch)", ""]
