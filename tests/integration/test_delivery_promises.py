"""Delivery promises on the use-case level with a real SMTP server and a real Slack
webhook fake: older digests' pending deliveries are flushed, a delivery pending too
long is reported, a digest's identity is (subscription, scheduled day), a manual run
and ``barometer deliveries retry`` send now."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlackWebhook
from tests.fakes.smtp import SmtpServer, free_port
from worker import bootstrap, delivery, service
from worker.clock import set_file_clock
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings

TEAM = "team@shop.example"
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
D1, D2 = date(2026, 11, 17), date(2026, 11, 18)
BAROMETER = str(Path(sys.executable).with_name("barometer"))


class Clock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


def write_config(tmp_path: Path, smtp_port: int, *, extra: str = "", subscription: str = "") -> Path:
    path = tmp_path / "barometer.toml"
    path.write_text(
        f"""
[storage]
database_url = "sqlite:///{tmp_path / "b.db"}"
[outbox]
dir = "{tmp_path / "outbox"}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
timeout_seconds = 5
{extra}
[[properties]]
name = "shop"
source = "csv"
[[properties]]
name = "search"
source = "csv"
[[subscriptions]]
name = "marketing"
properties = ["shop", "search"]
email = ["{TEAM}"]
{subscription}
"""
    )
    return path


def write_csv(path: Path, last: date, days: int = 30) -> Path:
    lines = ["date,series,metric,value"]
    lines += [f"{last - timedelta(days=n)},total,sessions,{1000 + (n % 7) * 10}" for n in range(days)]
    path.write_text("\n".join(lines) + "\n")
    return path


def barometer(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")} | {"BAROMETER_CONFIG": str(config)}
    return subprocess.run([BAROMETER, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def statuses(settings: Settings) -> list[tuple[str, str, int]]:
    with bootstrap.engine(settings).connect() as conn:
        query = (
            "SELECT d.data_date, x.status, x.attempts FROM delivery x JOIN digest d ON d.id = x.digest_id ORDER BY x.id"
        )
        return [(str(a), str(b), int(c)) for a, b, c in conn.exec_driver_sql(query)]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, port: int) -> Iterator[Settings]:
    loaded = load_settings(write_config(tmp_path, port))
    yield loaded
    bootstrap.forget_engine(loaded.storage.database_url)


def test_pending_deliveries_of_older_digests_are_flushed(settings: Settings, port: int) -> None:
    clock = Clock()
    first = service.deliver_subscription(build_runtime(settings), "marketing", data_date=D1, now=clock)  # SMTP is down
    assert (first.sent, first.pending) == (0, 1)

    clock.advance(timedelta(days=1))
    with SmtpServer(port=port) as smtp:
        # The next day's run handles its own digest and the older one still pending.
        report = service.run_daily(build_runtime(settings), data_date=D2, now=clock)
        flushed = delivery.flush_outbox(build_runtime(settings), now=clock)
        arrived = sorted(m.message["Subject"].split(" ")[-1] for m in smtp.received)

    assert [d.sent for d in report.deliveries] == [1]
    assert flushed.sent == 0  # the run had already sent the older one
    assert statuses(settings) == [(str(D1), "sent", 2), (str(D2), "sent", 1)]
    assert len(arrived) == 2


def test_flush_outbox_sends_every_due_pending_delivery_of_any_digest(settings: Settings, port: int) -> None:
    clock = Clock()
    service.deliver_subscription(build_runtime(settings), "marketing", data_date=D1, now=clock)
    service.deliver_subscription(build_runtime(settings), "marketing", data_date=D2, now=clock)
    with SmtpServer(port=port) as smtp:
        early = delivery.flush_outbox(build_runtime(settings), now=clock)  # still backing off: nothing is due
        clock.advance(timedelta(minutes=2))
        due = delivery.flush_outbox(build_runtime(settings), now=clock)
        again = delivery.flush_outbox(build_runtime(settings), now=clock)
        received = len(smtp.received)

    assert (early.sent, due.sent, again.sent) == (0, 2, 0)
    assert received == 2
    assert statuses(settings) == [(str(D1), "sent", 2), (str(D2), "sent", 2)]


def test_a_delivery_pending_too_long_is_logged_once_and_named_in_the_next_digest(
    tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlackWebhook() as hook:
        monkeypatch.setenv("SLACK_HOOK", hook.url)
        settings = load_settings(write_config(tmp_path, port, subscription='slack_webhook_env = "SLACK_HOOK"'))
        clock = Clock()
        service.deliver_subscription(
            build_runtime(settings), "marketing", data_date=D1, now=clock
        )  # email down, Slack up
        caplog.set_level(logging.WARNING)
        for _ in range(3):  # SMTP stays down up to the 6 h limit
            clock.advance(timedelta(hours=2))
            delivery.flush_outbox(build_runtime(settings), now=clock)
        overdue = [r for r in caplog.records if r.levelno == logging.ERROR and "still pending" in r.getMessage()]
        service.deliver_subscription(build_runtime(settings), "marketing", data_date=D2, now=clock)
        bootstrap.forget_engine(settings.storage.database_url)

    assert len(overdue) == 1
    assert f"to {TEAM} (email)" in overdue[0].getMessage()
    assert len(hook.bodies) == 2
    text = str(hook.bodies[1])
    assert f"The digest for {D1} is still not delivered to {TEAM} (email) after 6 hours" in text
    assert statuses(settings)[0][1] == "pending"  # still retried


def test_a_failed_property_does_not_move_the_digest_day_and_a_rerun_sends_no_second_copy(
    tmp_path: Path, port: int
) -> None:
    settings = load_settings(write_config(tmp_path, port))
    clock = Clock()
    from worker.commands import import_csv

    import_csv(build_runtime(settings), write_csv(tmp_path / "shop.csv", D1), property_name="shop")
    with SmtpServer(port=port) as smtp:
        first = service.run_daily(build_runtime(settings), now=clock)  # "search" has no data yet: it fails
        import_csv(build_runtime(settings), write_csv(tmp_path / "search.csv", D2), property_name="search")
        clock.advance(timedelta(hours=3))
        again = service.run_daily(build_runtime(settings), now=clock)  # same scheduled day, "search" recovered
        messages = [m.message for m in smtp.received]
    bootstrap.forget_engine(settings.storage.database_url)

    assert list(first.failures) == ["search"]
    assert again.failures == {}
    assert first.deliveries[0].digest_id == again.deliveries[0].digest_id
    assert len(messages) == 1
    body = messages[0].get_body(("plain",))
    assert body is not None
    assert "search: no fresh data" in str(body.get_content())


def test_with_follow_up_a_recovered_property_is_sent_once_as_a_follow_up(tmp_path: Path, port: int) -> None:
    settings = load_settings(write_config(tmp_path, port, subscription="follow_up = true"))
    clock = Clock()
    from worker.commands import import_csv

    import_csv(build_runtime(settings), write_csv(tmp_path / "shop.csv", D1), property_name="shop")
    with SmtpServer(port=port) as smtp:
        service.run_daily(build_runtime(settings), now=clock)
        import_csv(build_runtime(settings), write_csv(tmp_path / "search.csv", D2), property_name="search")
        for _ in range(3):  # later runs that day: one follow-up, never a second copy
            clock.advance(timedelta(hours=1))
            service.run_daily(build_runtime(settings), now=clock)
        subjects = [m.message["Subject"] for m in smtp.received]
    bootstrap.forget_engine(settings.storage.database_url)

    assert len(subjects) == 2
    assert subjects[1].startswith("Follow-up")
    assert "search" in subjects[1]


def test_a_manual_run_sends_pending_deliveries_now_despite_their_backoff(tmp_path: Path, port: int) -> None:
    clock_file = tmp_path / "clock.txt"
    set_file_clock(clock_file, START)
    config = write_config(tmp_path, port, extra=f'[clock]\nsource = "file:{clock_file}"')
    for _ in range(2):  # SMTP down: two failed runs, the row now backs off for 2 minutes
        result = barometer("run", "--date", str(D1), config=config)
        assert "0 sent, 1 pending" in result.stdout, result.stdout + result.stderr
    with SmtpServer(port=port) as smtp:  # ops fix SMTP and rerun at once
        result = barometer("run", "--date", str(D1), config=config)
        received = len(smtp.received)

    assert "marketing: digest 1: 1 sent, 0 pending, 0 failed" in result.stdout, result.stdout + result.stderr
    assert received == 1


def test_deliveries_list_and_retry_resend_a_failed_delivery_and_record_it(tmp_path: Path, port: int) -> None:
    clock_file = tmp_path / "clock.txt"
    set_file_clock(clock_file, START)
    config = write_config(tmp_path, port, extra=f'[clock]\nsource = "file:{clock_file}"')
    with SmtpServer(port=port, reject=frozenset({TEAM})):
        barometer("run", "--date", str(D1), config=config)  # 550: failed for good

    listed = barometer("deliveries", "list", "--status", "failed", config=config)
    assert listed.returncode == 0, listed.stderr
    assert "marketing" in listed.stdout
    assert f"email    {TEAM}" in listed.stdout
    assert "failed" in listed.stdout
    assert "550" in listed.stdout

    with SmtpServer(port=port) as smtp:  # the mailbox exists now
        set_file_clock(clock_file, START + timedelta(hours=1))
        retried = barometer("deliveries", "retry", "--failed", "--since", str(D1), config=config)
        received = len(smtp.received)

    assert retried.returncode == 0, retried.stderr
    assert f"delivery 1 (email {TEAM}): sent" in retried.stdout
    assert received == 1
    shown = barometer("deliveries", "list", "--status", "sent", config=config).stdout
    assert "resent 1x" in shown
    bad = barometer("deliveries", "retry", "1", config=config)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: delivery 1 was already sent; nothing to resend"
