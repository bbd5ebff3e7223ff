"""The alerting state on real SQLite and PostgreSQL: digest layouts, the alert log, mutes,
and a migration that matches the tables exactly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerts import history
from alerts.errors import AlertsError, DeliveryError
from alerts.mutes import active_mutes, add_mute, list_mutes, remove_mute
from alerts.outbox import Target, deliver
from jobs.domain import Digest, Finding, HeldBack, Incident, Kind, PropertySpec, Severity
from jobs.storage import repo
from jobs.storage.tables import SQLModel
from tests.fakes import DATA_DATE, RecordingChannel, finding

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def _stored(engine: sa.Engine) -> tuple[Finding, ...]:
    prop_id = repo.ensure_property(engine, PropertySpec(name="shop", source="csv"))
    return repo.save_findings(
        engine,
        prop_id,
        [
            finding(metric="keyEvents", observed=0, expected=50, kind=Kind.OUTAGE, severity=Severity.CRITICAL),
            finding(metric="sessionKeyEventRate", observed=0, expected=0.04),
            finding(observed=600, expected=1000),
            finding(metric="totalUsers", observed=500, expected=800),
            finding(series="landingPage:/old", observed=1, expected=90, kind=Kind.LEVEL_SHIFT),
        ],
    )


def _digest(findings: tuple[Finding, ...], **changes: Any) -> Digest:
    outage, rate, sessions, users, old = findings
    base = Digest(
        subscription="marketing",
        data_date=DATA_DATE,
        properties=("shop",),
        findings=(outage, sessions, users),
        headline="2 changes on shop",
        summary="…",
        generated_at=NOW,
        incidents=(Incident((outage,), suppressed=(rate,), note="already alerted"), Incident((sessions, users))),
        held_back=(HeldBack(old, "ongoing: alerted on 2026-11-15 and not worse since"),),
    )
    return replace(base, **changes)


def test_the_migration_creates_exactly_the_tables_the_code_declares(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    assert {"digest_layout", "alert_log", "mute"} <= set(sa.inspect(engine).get_table_names())


def test_a_digest_comes_back_with_its_incidents_and_held_back_findings(engine: sa.Engine) -> None:
    findings = _stored(engine)
    stored = repo.save_digest(engine, _digest(findings))
    again = repo.find_digest(engine, "marketing", DATA_DATE)
    assert again == stored
    outage, rate, sessions, users, old = (f.id for f in findings)
    assert [([f.id for f in i.findings], [f.id for f in i.suppressed], i.note) for i in stored.incidents] == [
        ([outage], [rate], "already alerted"),
        ([sessions, users], [], ""),
    ]
    assert [(h.finding.id, h.reason) for h in stored.held_back] == [
        (old, "ongoing: alerted on 2026-11-15 and not worse since")
    ]
    assert [f.id for f in stored.findings] == [outage, sessions, users]
    assert stored.immediate is False
    alert = repo.save_digest(engine, _digest(findings, subscription="marketing/alert/shop", immediate=True))
    assert repo.load_digest(engine, alert.id or 0) == alert
    assert alert.immediate is True


def test_the_first_layout_of_a_day_wins_with_its_digest(engine: sa.Engine) -> None:
    findings = _stored(engine)
    first = repo.save_digest(engine, _digest(findings))
    second = repo.save_digest(engine, _digest(findings, incidents=(Incident(findings[:1]),), held_back=()))
    assert second == first


def test_the_alert_log_is_idempotent_and_counts_only_what_reached_someone(engine: sa.Engine) -> None:
    findings = _stored(engine)
    digest = repo.save_digest(engine, _digest(findings))
    assert history.record(engine, digest, now=NOW) == 5
    assert history.record(engine, digest, now=NOW) == 0
    since, until = DATA_DATE - timedelta(days=30), DATA_DATE
    seen = history.sightings(engine, subscription="marketing", since=since, until=until)
    assert {k: [(s.via, s.notified) for s in v] for k, v in seen.items()} == {
        "shop|total|keyEvents|down": [("digest", False)],
        "shop|total|sessionKeyEventRate|down": [("digest", False)],  # listed under the outage: told with it
        "shop|total|sessions|down": [("digest", False)],
        "shop|total|totalUsers|down": [("digest", False)],
        "shop|landingPage:/old|sessions|down": [("seen", False)],
    }
    deliver(
        engine,
        digest=digest,
        targets=[Target("email", "t@x.io")],
        channels={"email": RecordingChannel()},
        now=lambda: NOW,
    )
    seen = history.sightings(engine, subscription="marketing", since=since, until=until)
    assert seen["shop|total|sessions|down"][0].notified
    assert seen["shop|total|sessions|down"][0].sent_at == NOW
    assert not seen["shop|landingPage:/old|sessions|down"][0].notified


def test_failed_deliveries_are_listed_once_for_the_digest_that_follows(engine: sa.Engine) -> None:
    findings = _stored(engine)
    digest = repo.save_digest(engine, _digest(findings))
    channel = RecordingChannel()
    channel.failures["boss@x.io"] = DeliveryError("smtp mx:25: 550 no such user", transient=False)
    deliver(engine, digest=digest, targets=[Target("email", "boss@x.io")], channels={"email": channel}, now=lambda: NOW)
    day = DATA_DATE + timedelta(days=1)
    assert history.failed_deliveries(engine, subscription="marketing", since=DATA_DATE, before=day) == (
        "The digest for 2026-11-18 could not be delivered to boss@x.io (email): smtp mx:25: 550 no such user",
    )
    assert history.failed_deliveries(engine, subscription="other", since=DATA_DATE, before=day) == ()
    assert history.failed_deliveries(engine, subscription="marketing", since=day, before=day) == ()


def test_mutes_expire_and_can_be_removed(engine: sa.Engine) -> None:
    kept = add_mute(engine, pattern="shop/keyEvents", until=NOW + timedelta(days=7), reason="migration", now=NOW)
    short = add_mute(engine, pattern="shop", until=NOW + timedelta(hours=1), subscription="marketing", now=NOW)
    assert [m.id for m in active_mutes(engine, now=NOW)] == [kept.id, short.id]
    assert [m.id for m in active_mutes(engine, now=NOW + timedelta(hours=1))] == [kept.id]
    removed = remove_mute(engine, kept.id, now=NOW + timedelta(hours=2))
    assert removed.removed_at == NOW + timedelta(hours=2)
    assert active_mutes(engine, now=NOW + timedelta(hours=2)) == ()
    assert len(list_mutes(engine, now=NOW, include_inactive=True)) == 2
    with pytest.raises(AlertsError, match=r"mute 1 \(shop/keyEvents\) already ended"):
        remove_mute(engine, kept.id, now=NOW + timedelta(hours=3))
    with pytest.raises(AlertsError, match="not in the future"):
        add_mute(engine, pattern="shop", until=NOW, now=NOW)
