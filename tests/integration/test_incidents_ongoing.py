"""Incidents with a life cycle in the digest: a level shift reported once stays in every
digest as "still ongoing" until the series recovers or an analyst accepts the new level;
never "All quiet" while one is open. Real SQLite and SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.domain import Kind, Label, Observation, PropertySpec
from jobs.storage import feedback, repo
from tests.fakes import finding
from tests.fakes.smtp import Received, SmtpServer
from tests.integration.test_alerting import Clock, digest_day, make_settings, store
from worker import bootstrap
from worker.settings import Settings

D1 = date(2026, 11, 16)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _points(settings: Settings, values: dict[date, float]) -> None:
    engine = bootstrap.engine(settings)
    prop_id = repo.ensure_property(engine, PropertySpec(name="shop", source="csv"))
    repo.upsert_points(engine, prop_id, [Observation("shop", "total", "sessions", d, v) for d, v in values.items()])


def _text(message: Received) -> str:
    body = message.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def _md(d: date) -> str:
    return f"{d:%b} {d.day}"  # as subjects show a date: "Nov 17"


def _days(n: int) -> list[date]:
    return [D1 + timedelta(days=k) for k in range(n)]


def test_a_sustained_drop_stays_in_every_digest_until_it_recovers(sqlite_url: str, smtp: SmtpServer) -> None:
    settings = make_settings(sqlite_url, smtp.port)
    clock = Clock()
    # the level shift is found (and stored) once; sessions stay about 40% down for 5 days
    store(settings, D1, finding(observed=600, expected=1000, kind=Kind.LEVEL_SHIFT))
    down = [600.0, 590.0, 610.0, 600.0, 590.0]
    _points(settings, dict(zip(_days(5), down, strict=True)))
    for day in _days(5):
        digest_day(settings, day, clock)
        clock.next_day()
    subjects = [m.message["Subject"] for m in smtp.received]
    assert subjects[0] == "Sessions fell 40% (1 change on shop, search)"
    assert subjects[1:] == [f"Nothing new on shop, search for {_md(d)}" for d in _days(5)[1:]]
    assert "Still ongoing:\n- sessions −41% since Nov 16 (day 5) (shop)" in _text(smtp.received[4])
    assert "All quiet" not in _text(smtp.received[4])
    # back to normal: the incident closes and the digest is quiet again
    recovered = D1 + timedelta(days=5)
    _points(settings, {recovered: 980.0})
    digest_day(settings, recovered, clock)
    assert smtp.received[5].message["Subject"] == f"All quiet on shop, search for {_md(recovered)}"
    assert "Still ongoing" not in _text(smtp.received[5])


def test_accepting_the_new_level_closes_the_incident(sqlite_url: str, smtp: SmtpServer) -> None:
    settings = make_settings(sqlite_url, smtp.port)
    clock = Clock()
    (opened,) = store(settings, D1, finding(observed=600, expected=1000, kind=Kind.LEVEL_SHIFT))
    _points(settings, dict(zip(_days(3), [600.0, 600.0, 600.0], strict=True)))
    digest_day(settings, D1, clock)
    clock.next_day()
    digest_day(settings, _days(2)[1], clock)
    assert "Still ongoing:\n- sessions −40% since Nov 16 (day 2) (shop)" in _text(smtp.received[1])
    assert opened.id is not None
    engine = bootstrap.engine(settings)
    feedback.record_feedback(engine, opened.id, Label.EXPECTED, note="", now=datetime(2026, 11, 18, 7, tzinfo=UTC))
    clock.next_day()
    digest_day(settings, _days(3)[2], clock)
    assert smtp.received[2].message["Subject"] == f"All quiet on shop, search for {_md(_days(3)[2])}"
