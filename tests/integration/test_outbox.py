"""The delivery outbox on real SQLite and PostgreSQL: each target gets a digest exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from alerts.channels import Channel
from alerts.errors import AlertsError, DeliveryError
from alerts.outbox import Target, deliver
from jobs.domain import Delivery, DeliveryStatus, Digest
from jobs.storage.tables import DeliveryRow, DigestRow, SQLModel
from tests.fakes import Clock, RecordingChannel, sample_digest

TEAM, BOSS, SLACK = Target("email", "team@shop.example"), Target("email", "boss@shop.example"), Target("slack", "#mkt")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    url = request.getfixturevalue(f"{request.param}_url")
    engine = sa.create_engine(url)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def digest(engine: sa.Engine, clock: Clock) -> Digest:
    template = sample_digest(digest_id=None)
    row = DigestRow(
        subscription=template.subscription,
        data_date=template.data_date,
        headline=template.headline,
        summary=template.summary,
        created_at=clock(),
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
    return sample_digest(digest_id=row.id)


def _run(
    engine: sa.Engine, digest: Digest, clock: Clock, channels: dict[str, Channel], **kw: Any
) -> dict[str, Delivery]:
    result = deliver(engine, digest=digest, targets=[TEAM, BOSS, SLACK], channels=channels, now=clock, **kw)
    return {d.recipient: d for d in result}


def test_first_run_sends_each_target_once_and_marks_it_sent(engine: sa.Engine, digest: Digest, clock: Clock) -> None:
    email, slack = RecordingChannel("email"), RecordingChannel("slack")
    result = _run(engine, digest, clock, {"email": email, "slack": slack})
    assert email.sent == [(digest.id, TEAM.recipient), (digest.id, BOSS.recipient)]
    assert slack.sent == [(digest.id, "#mkt")]
    assert {r: (d.status, d.attempts, d.sent_at, d.error) for r, d in result.items()} == {
        r: (DeliveryStatus.SENT, 1, clock(), "") for r in (TEAM.recipient, BOSS.recipient, "#mkt")
    }


def test_a_second_run_sends_nothing(engine: sa.Engine, digest: Digest, clock: Clock) -> None:
    email, slack = RecordingChannel("email"), RecordingChannel("slack")
    _run(engine, digest, clock, {"email": email, "slack": slack})
    clock.advance(timedelta(days=1))
    again = _run(engine, digest, clock, {"email": email, "slack": slack})
    assert len(email.sent) == 2
    assert len(slack.sent) == 1
    assert all(d.status is DeliveryStatus.SENT and d.attempts == 1 for d in again.values())
    with Session(engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(DeliveryRow)).one()[0] == 3  # type: ignore[call-overload]


def test_a_transient_failure_leaves_that_target_pending_and_the_others_sent(
    engine: sa.Engine, digest: Digest, clock: Clock
) -> None:
    email = RecordingChannel("email")
    email.failures[BOSS.recipient] = DeliveryError("smtp mx:25: 451 try later", transient=True)
    result = _run(engine, digest, clock, {"email": email, "slack": RecordingChannel("slack")})
    boss = result[BOSS.recipient]
    assert (boss.status, boss.attempts, boss.error, boss.sent_at) == (
        DeliveryStatus.PENDING,
        1,
        "smtp mx:25: 451 try later",
        None,
    )
    assert result[TEAM.recipient].status is DeliveryStatus.SENT
    assert result["#mkt"].status is DeliveryStatus.SENT


def test_a_pending_target_is_retried_only_after_its_backoff(engine: sa.Engine, digest: Digest, clock: Clock) -> None:
    email, slack = RecordingChannel("email"), RecordingChannel("slack")
    email.failures[BOSS.recipient] = DeliveryError("timeout", transient=True)
    _run(engine, digest, clock, {"email": email, "slack": slack})
    del email.failures[BOSS.recipient]

    clock.advance(timedelta(seconds=59))
    _run(engine, digest, clock, {"email": email, "slack": slack})
    assert email.sent == [(digest.id, TEAM.recipient)]

    clock.advance(timedelta(seconds=1))  # one minute after the first failure
    result = _run(engine, digest, clock, {"email": email, "slack": slack})
    assert email.sent == [(digest.id, TEAM.recipient), (digest.id, BOSS.recipient)]
    assert slack.sent == [(digest.id, "#mkt")]
    assert (result[BOSS.recipient].status, result[BOSS.recipient].attempts) == (DeliveryStatus.SENT, 2)


def test_backoff_doubles_and_gives_up_after_max_attempts(engine: sa.Engine, digest: Digest, clock: Clock) -> None:
    email = RecordingChannel("email")
    email.failures[BOSS.recipient] = DeliveryError("timeout", transient=True)
    channels: dict[str, Channel] = {"email": email, "slack": RecordingChannel("slack")}
    attempts = []
    for wait in (0, 1, 2):  # minutes: 1st try, after 1 min, after 2 more
        clock.advance(timedelta(minutes=wait))
        attempts.append(_run(engine, digest, clock, channels, max_attempts=3)[BOSS.recipient])
    assert [(d.status, d.attempts) for d in attempts] == [
        (DeliveryStatus.PENDING, 1),
        (DeliveryStatus.PENDING, 2),
        (DeliveryStatus.FAILED, 3),
    ]
    del email.failures[BOSS.recipient]
    clock.advance(timedelta(days=1))
    assert _run(engine, digest, clock, channels, max_attempts=3)[BOSS.recipient].status is DeliveryStatus.FAILED
    assert (digest.id, BOSS.recipient) not in email.sent


def test_a_permanent_failure_is_failed_at_once_and_never_retried(
    engine: sa.Engine, digest: Digest, clock: Clock
) -> None:
    email = RecordingChannel("email")
    email.failures[BOSS.recipient] = DeliveryError("550 5.1.1 user unknown", transient=False)
    channels: dict[str, Channel] = {"email": email, "slack": RecordingChannel("slack")}
    first = _run(engine, digest, clock, channels)[BOSS.recipient]
    assert (first.status, first.attempts, first.error) == (DeliveryStatus.FAILED, 1, "550 5.1.1 user unknown")
    del email.failures[BOSS.recipient]
    clock.advance(timedelta(days=1))
    assert _run(engine, digest, clock, channels)[BOSS.recipient].attempts == 1
    assert email.sent == [(digest.id, TEAM.recipient)]


def test_a_row_marked_sent_is_never_resent_and_a_row_left_pending_is_sent_next_run(
    engine: sa.Engine, digest: Digest, clock: Clock
) -> None:
    # What a crash leaves behind: one row marked sent, one claimed (leased) but never marked.
    deliver(engine, digest=digest, targets=[TEAM, BOSS], channels={}, now=clock, max_attempts=99)
    table = DeliveryRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.recipient == TEAM.recipient).values(status="sent", sent_at=clock()))
        conn.execute(
            sa.update(table)
            .where(table.c.recipient == BOSS.recipient)
            .values(status="pending", attempts=0, error="", next_attempt_at=clock() + timedelta(minutes=10))
        )
    email = RecordingChannel("email")
    _run(engine, digest, clock, {"email": email, "slack": RecordingChannel("slack")})
    assert (digest.id, BOSS.recipient) not in email.sent  # the crashed worker's lease still holds

    clock.advance(timedelta(minutes=10))
    result = _run(engine, digest, clock, {"email": email, "slack": RecordingChannel("slack")})
    assert email.sent == [(digest.id, BOSS.recipient)]
    assert result[TEAM.recipient].status is DeliveryStatus.SENT
    assert result[BOSS.recipient].status is DeliveryStatus.SENT


def test_a_channel_missing_from_the_configuration_is_recorded_on_its_row(
    engine: sa.Engine, digest: Digest, clock: Clock
) -> None:
    email = RecordingChannel("email")
    result = _run(engine, digest, clock, {"email": email})
    assert (result["#mkt"].status, result["#mkt"].error) == (
        DeliveryStatus.PENDING,
        "no channel named 'slack' is configured",
    )
    assert len(email.sent) == 2


def test_an_unexpected_channel_crash_is_recorded_and_the_others_still_go_out(
    engine: sa.Engine, digest: Digest, clock: Clock
) -> None:
    email = RecordingChannel("email")
    email.failures[TEAM.recipient] = KeyError("template")
    result = _run(engine, digest, clock, {"email": email, "slack": RecordingChannel("slack")})
    assert (result[TEAM.recipient].status, result[TEAM.recipient].error) == (
        DeliveryStatus.PENDING,
        "unexpected KeyError: 'template'",
    )
    assert email.sent == [(digest.id, BOSS.recipient)]


def test_two_workers_delivering_at_once_send_each_target_once(engine: sa.Engine, digest: Digest, clock: Clock) -> None:
    start = threading.Barrier(2, timeout=30)
    # A slow send widens the window in which the other worker sees the row still pending.
    email, slack = RecordingChannel("email", on_send=_slow), RecordingChannel("slack", on_send=_slow)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            _run(engine, digest, clock, {"email": email, "slack": slack})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(email.sent) == [(digest.id, BOSS.recipient), (digest.id, TEAM.recipient)]
    assert slack.sent == [(digest.id, "#mkt")]


def _slow() -> None:
    time.sleep(0.05)


def test_a_digest_without_an_id_is_refused(engine: sa.Engine, clock: Clock) -> None:
    with pytest.raises(AlertsError, match="digest has no id"):
        deliver(engine, digest=sample_digest(digest_id=None), targets=[TEAM], channels={}, now=clock)
