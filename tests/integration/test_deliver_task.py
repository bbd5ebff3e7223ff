"""The production path (beat's ``barometer.digest`` -> chord -> ``barometer.deliver``) on a
real threads worker and real Redis: deliveries that failed once go out once the fault is
fixed, on the worker's own retries, with time moved by a file clock (no sleeps)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery.contrib.testing.worker import start_worker

from tests.fakes.slack import FakeSlackWebhook
from tests.fakes.smtp import SmtpServer, free_port
from worker.celery_app import app, configure
from worker.clock import set_file_clock
from worker.settings import Settings, load_settings
from worker.tasks import digest

pytestmark = pytest.mark.redis

T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


@contextmanager
def running_worker() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def wait_until(probe: Callable[[], bool], *, seconds: float = 60) -> None:
    """Poll ``probe`` (every 0.1 s, at most ``seconds``): waiting for an outcome, not for time to pass."""
    event = threading.Event()
    for _ in range(int(seconds * 10)):
        if probe():
            return
        event.wait(0.1)
    raise AssertionError("condition not reached")


def delivery_rows(settings: Settings) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(settings.storage.database_url)
    try:
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.exec_driver_sql("SELECT channel, status, attempts FROM delivery ORDER BY id")
            ]
    except sa.exc.OperationalError:
        return []  # the schema is not there yet
    finally:
        engine.dispose()


@pytest.fixture
def clock(tmp_path: Path) -> Path:
    path = tmp_path / "clock.txt"
    set_file_clock(path, T0)
    return path


def test_deliveries_failing_at_first_go_out_on_the_deliver_tasks_retries(
    tmp_path: Path, redis_url: str, clock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_port = free_port()  # closed: SMTP is down when the digest is sent
    with FakeSlackWebhook() as hook:
        hook.respond((500, "internal_error", {}))
        monkeypatch.setenv("SLACK_HOOK_MARKETING", hook.url)
        config = tmp_path / "barometer.toml"
        config.write_text(
            f"""
[storage]
database_url = "sqlite:///{tmp_path / "barometer.db"}"
[broker]
url = "{redis_url}"
[clock]
source = "file:{clock}"
[delivery]
retry_seconds = 1
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
timeout_seconds = 5
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
[[subscriptions]]
name = "marketing"
properties = ["shop"]
email = ["team@shop.example"]
slack_webhook_env = "SLACK_HOOK_MARKETING"
"""
        )
        settings = load_settings(config)
        configure(app, settings)
        with running_worker():
            started = digest.delay("marketing").get(timeout=60)
            wait_until(lambda: [r[2] for r in delivery_rows(settings)] == [1, 1])
            assert [r[1] for r in delivery_rows(settings)] == ["pending", "pending"]

            # Ops fix SMTP, Slack recovers; a few minutes pass on the worker's clock.
            with SmtpServer(port=smtp_port) as smtp:
                set_file_clock(clock, T0 + timedelta(minutes=5))
                outcome = app.AsyncResult(started["chord_id"]).get(timeout=60)
                arrived = [m.rcpt_tos for m in smtp.received]

    assert (outcome["sent"], outcome["pending"], outcome["failed"]) == (2, 0, 0)
    assert arrived == [("team@shop.example",)]
    assert len(hook.bodies) == 2  # the 500, then the one that went through
    assert sorted(delivery_rows(settings)) == [("email", "sent", 2), ("slack", "sent", 2)]
