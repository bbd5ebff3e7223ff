"""The alert policy end to end: stored findings, the real service, a real SMTP server.

Each test stores findings for consecutive days and builds the digests the way the daily
job does (``deliver_subscription``), then asserts what arrived in the mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from alerts.mutes import add_mute
from jobs.domain import Contributor, Finding, Kind, PropertySpec, Severity
from jobs.storage import repo
from tests.fakes import finding
from tests.fakes.smtp import Received, SmtpServer, free_port
from worker import alerting, bootstrap, service
from worker.runtime import build as build_runtime
from worker.settings import PropertySettings, Settings, SMTPSettings, StorageSettings, SubscriptionSettings

D1 = date(2026, 11, 16)
TEAM, BOSS = "team@shop.example", "boss@shop.example"


class Clock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def next_day(self) -> None:
        self.current += timedelta(days=1)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(reject=frozenset({BOSS})) as server:
        yield server


def make_settings(url: str, port: int, **subscription: object) -> Settings:
    sub = {"name": "marketing", "properties": ("shop", "search"), "email": (TEAM,), **subscription}
    return Settings(
        storage=StorageSettings(database_url=url),
        smtp=SMTPSettings(host="127.0.0.1", port=port, starttls=False, sender="barometer@shop.example"),
        properties=(PropertySettings(name="shop", source="csv"), PropertySettings(name="search", source="csv")),
        subscriptions=(SubscriptionSettings(**sub),),
    )


@pytest.fixture
def settings(sqlite_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(sqlite_url, smtp.port)


def on(day: date, f: Finding) -> Finding:
    return replace(f, anomaly=replace(f.anomaly, day=day))


def store(settings: Settings, day: date, *findings: Finding) -> tuple[Finding, ...]:
    engine = bootstrap.engine(settings)
    saved: list[Finding] = []
    for prop in sorted({f.anomaly.property for f in findings}):
        prop_id = repo.ensure_property(engine, PropertySpec(name=prop, source="csv"))
        saved += repo.save_findings(engine, prop_id, [on(day, f) for f in findings if f.anomaly.property == prop])
    return tuple(saved)


def digest_day(settings: Settings, day: date, clock: Clock) -> service.DeliveryReport:
    return service.deliver_subscription(build_runtime(settings), "marketing", data_date=day, now=clock)


def text(message: Received) -> str:
    body = message.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_an_ongoing_level_shift_is_alerted_once_and_again_only_when_it_escalates(
    settings: Settings, smtp: SmtpServer
) -> None:
    clock = Clock()
    shift = finding(series="landingPage:/pricing", observed=600, expected=1000, kind=Kind.LEVEL_SHIFT)
    for n, observed in enumerate([600.0, 580.0, 300.0, 290.0, 295.0]):  # -40%, -42%, -70% (escalates), -71%, -70%
        day = D1 + timedelta(days=n)
        store(settings, day, replace(shift, anomaly=replace(shift.anomaly, observed=observed)))
        report = digest_day(settings, day, clock)
        assert (report.sent, report.pending, report.failed) == (1, 0, 0)
        clock.next_day()
    subjects = [m.message["Subject"].strip() for m in smtp.received]
    assert subjects == [
        "Sessions on /pricing fell 40% (1 change on shop, search)",
        "Nothing new on shop, search for Nov 17",
        "Sessions on /pricing fell 70% (1 change on shop, search)",
        "Nothing new on shop, search for Nov 19",
        "Nothing new on shop, search for Nov 20",
    ]
    assert "   Escalated: -40% when alerted on 2026-11-16, -70% now" in text(smtp.received[2])
    assert "ongoing: alerted on 2026-11-16 and not worse since" in text(smtp.received[1])
    assert "ongoing: alerted on 2026-11-18 and not worse since" in text(smtp.received[4])


def test_with_quiet_digests_off_a_day_of_only_ongoing_problems_sends_nothing(sqlite_url: str, smtp: SmtpServer) -> None:
    settings = make_settings(sqlite_url, smtp.port, quiet_digest=False)
    clock = Clock()
    shift = finding(observed=600, expected=1000, kind=Kind.LEVEL_SHIFT)
    for n in range(3):
        store(settings, D1 + timedelta(days=n), shift)
        digest_day(settings, D1 + timedelta(days=n), clock)
        clock.next_day()
    assert [m.message["Subject"].strip() for m in smtp.received] == ["Sessions fell 40% (1 change on shop, search)"]


def test_a_site_wide_drop_is_one_item_and_a_tracking_break_suppresses_what_it_causes(
    settings: Settings, smtp: SmtpServer
) -> None:
    organic = "sessionDefaultChannelGroup:Organic Search"
    drivers = (Contributor(organic, 165, 499, 0.78),)
    store(
        settings,
        D1,
        finding(observed=681, expected=1093, contributors=drivers),
        finding(metric="totalUsers", observed=543, expected=878, contributors=drivers),
        finding(series=organic, observed=165, expected=499, severity=Severity.MEDIUM),
        finding(metric="keyEvents", observed=0, expected=52, kind=Kind.OUTAGE, severity=Severity.CRITICAL),
        finding(metric="keyEvents", series="landingPage:/checkout", observed=0, expected=30, severity=Severity.MEDIUM),
        finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04),
    )
    digest_day(settings, D1, Clock())
    [message] = smtp.received
    assert (
        message.message["Subject"].strip()
        == "Key events tracking stopped; sessions fell 38% (2 changes on shop, search)"
    )
    body = text(message)
    assert "   + Total users fell 38% (expected about 878, got 543)" in body
    assert "   Tracking stopped for: key events, session key event rate" in body


def test_a_mute_holds_a_problem_back_until_it_expires(settings: Settings, smtp: SmtpServer) -> None:
    clock = Clock()
    engine = bootstrap.engine(settings)
    add_mute(engine, pattern="shop/keyEvents", until=clock() + timedelta(hours=20), reason="tag migration", now=clock())
    outage = finding(metric="keyEvents", observed=0, expected=52, kind=Kind.OUTAGE, severity=Severity.CRITICAL)
    for n in range(2):
        store(settings, D1 + timedelta(days=n), outage)
        digest_day(settings, D1 + timedelta(days=n), clock)
        clock.next_day()
    first, second = (text(m) for m in smtp.received)
    assert "muted until 2026-11-18 02:00 UTC (tag migration)" in first
    assert smtp.received[0].message["Subject"].strip() == "Nothing new on shop, search for Nov 16"
    assert (
        smtp.received[1].message["Subject"].strip() == "Key events tracking stopped (1 change on shop, search)"
    )  # mute expired
    assert "muted" not in second


def test_an_immediate_alert_goes_out_once_and_the_digest_says_it_was_sent(sqlite_url: str, smtp: SmtpServer) -> None:
    settings = make_settings(sqlite_url, smtp.port, immediate=("outage",))
    clock = Clock()
    saved = store(
        settings,
        D1,
        finding(metric="keyEvents", observed=0, expected=52, kind=Kind.OUTAGE, severity=Severity.CRITICAL),
        finding(observed=681, expected=1093),
    )
    [report] = alerting.send_immediate(build_runtime(settings), "shop", D1, saved, now=clock)
    assert report.sent == 1
    assert (
        alerting.send_immediate(build_runtime(settings), "shop", D1, saved, now=clock)[0].sent == 1
    )  # the same alert, not resent
    assert alerting.send_immediate(build_runtime(settings), "search", D1, (), now=clock) == ()
    clock.current += timedelta(hours=2)
    digest_day(settings, D1, clock)
    alert, digest = smtp.received
    assert alert.message["Subject"].strip() == "Alert on shop: key events tracking stopped"
    assert text(alert).startswith("Alert on shop")
    assert "sessions down" not in text(alert).lower()  # a drop is not an immediate kind
    assert (
        digest.message["Subject"].strip()
        == "Key events tracking stopped; sessions fell 38% (2 changes on shop, search)"
    )
    assert "   Already alerted at 06:00 UTC (immediate alert)" in text(digest)


def test_smtp_down_then_up_the_digest_is_sent_exactly_once(sqlite_url: str) -> None:
    port = free_port()
    settings = make_settings(sqlite_url, port)
    clock = Clock()
    store(settings, D1, finding(observed=600, expected=1000))
    first = digest_day(settings, D1, clock)
    assert (first.sent, first.pending, first.failed) == (0, 1, 0)
    assert "Connection" in first.deliveries[0].error or "refused" in first.deliveries[0].error.lower()
    with SmtpServer(port=port) as server:
        clock.current += timedelta(minutes=1)  # the outbox's first backoff
        second = digest_day(settings, D1, clock)
        clock.current += timedelta(hours=1)
        third = digest_day(settings, D1, clock)
    assert (second.sent, third.sent, third.pending) == (1, 1, 0)
    assert len(server.received) == 1
    assert server.received[0].message["Subject"].strip() == "Sessions fell 40% (1 change on shop, search)"


def test_a_permanent_failure_is_logged_as_an_error_and_named_in_the_next_digest(
    sqlite_url: str, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(sqlite_url, smtp.port, email=(TEAM, BOSS))
    clock = Clock()
    store(settings, D1, finding(observed=600, expected=1000))
    with caplog.at_level(logging.WARNING):
        report = digest_day(settings, D1, clock)
    assert (report.sent, report.failed) == (1, 1)
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.name == "alerts.outbox"
    assert "to email boss@shop.example failed permanently: smtp 127.0.0.1" in error.getMessage()
    settings = make_settings(sqlite_url, smtp.port)  # boss@ is taken off the list
    clock.next_day()
    digest_day(settings, D1 + timedelta(days=1), clock)
    next_day = text(smtp.received[-1])
    assert (
        "! The digest for 2026-11-16 could not be delivered to boss@shop.example (email): "
        f"smtp 127.0.0.1:{smtp.port}: recipient boss@shop.example refused: 550 5.1.1"
    ) in next_day
    clock.next_day()
    digest_day(settings, D1 + timedelta(days=2), clock)
    assert "could not be delivered" not in text(smtp.received[-1])  # said once, in the next digest only
