"""A real Celery worker (threads pool) on real Redis runs the digest chord end to end:
every property fetched and checked, the digest delivered once, and again nothing new."""

from __future__ import annotations

import email
import email.policy
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery.contrib.testing.worker import start_worker

from worker.celery_app import app, configure
from worker.settings import Settings, load_settings
from worker.tasks import digest

pytestmark = pytest.mark.redis

CONFIG = """
[storage]
database_url = "sqlite:///{db}"

[broker]
url = "{redis_url}"

[outbox]
dir = "{outbox}"

[[properties]]
name = "shop"
source = "demo"
id = "ga4"

[[properties]]
name = "shop-search"
source = "demo"
id = "gsc"
metrics = ["clicks", "impressions", "position"]

[[properties]]
name = "imported"
source = "csv"

[[subscriptions]]
name = "marketing"
properties = ["shop", "shop-search"]

[[subscriptions]]
name = "mixed"
properties = ["shop", "imported"]
"""


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = tmp_path / "barometer.toml"
    config.write_text(CONFIG.format(db=tmp_path / "barometer.db", redis_url=redis_url, outbox=tmp_path / "outbox"))
    monkeypatch.setenv("BAROMETER_CONFIG", str(config))
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    return load_settings()


@pytest.fixture
def worker(settings: Settings) -> Iterator[None]:
    configure(app, settings)
    with running_worker():
        yield


@contextmanager
def running_worker() -> Iterator[None]:
    """A real worker thread; the root logger (which Celery sets up for it) is put back after."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run_digest(subscription: str, data_date: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send ``barometer.digest`` as beat does and wait for its chord; (started, delivered)."""
    started: dict[str, Any] = digest.delay(subscription, data_date).get(timeout=60)
    delivered: dict[str, Any] = app.AsyncResult(started["chord_id"]).get(timeout=60)
    return started, delivered


def rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(settings.storage.database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def snapshot(outbox: Path) -> dict[str, tuple[int, int]]:
    """Each file's identity: a rewrite (atomic replace) gives a new inode and mtime."""
    return {p.name: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in sorted(outbox.iterdir())}


@pytest.mark.usefixtures("worker")
def test_digest_fans_out_per_property_and_delivers_exactly_once(settings: Settings, tmp_path: Path) -> None:
    started, delivered = run_digest("marketing")

    # Each property reports on the newest day its source finished counting (GA4 2, GSC 3 days).
    dates = started["dates"]
    assert set(dates) == {"shop", "shop-search"}
    assert [app.AsyncResult(started["runs"][name]).get(timeout=10)["ok"] for name in dates] == [True, True]
    assert datetime.fromisoformat(dates["shop"]) > datetime.fromisoformat(dates["shop-search"])
    assert (delivered["subscription"], delivered["sent"], delivered["pending"], delivered["failed"]) == (
        "marketing",
        1,
        0,
        0,
    )
    assert delivered["data_date"] == dates["shop"]
    outbox = tmp_path / "outbox"
    first = snapshot(outbox)
    assert sorted(first) == [
        f"{dates['shop']}-marketing-digest.eml",
        f"{dates['shop']}-marketing.all.html",  # the demo has more changes than the email shows in full
        f"{dates['shop']}-marketing.slack.json",
    ]
    assert rows(settings, "SELECT target, status FROM job_run WHERE job = 'run_property' ORDER BY target") == [
        ("shop", "ok"),
        ("shop-search", "ok"),
    ]
    deliveries = "SELECT channel, recipient, status, attempts, sent_at FROM delivery"
    sent = rows(settings, deliveries)
    assert [r[:4] for r in sent] == [("file", "digest", "sent", 1)]

    # The same digest again (a redelivered message, a second beat tick): nothing new is sent.
    _, again = run_digest("marketing")

    assert (again["digest_id"], again["sent"], again["pending"]) == (delivered["digest_id"], 1, 0)
    assert snapshot(outbox) == first
    assert rows(settings, deliveries) == sent
    assert rows(settings, "SELECT count(*) FROM digest") == [(1,)]


@pytest.mark.usefixtures("worker")
def test_a_failing_property_does_not_stop_the_digest_of_the_others(settings: Settings, tmp_path: Path) -> None:
    day = (datetime.now(UTC) - timedelta(days=4)).date().isoformat()

    started, delivered = run_digest("mixed", day)  # "imported" has no data: it fails for good

    assert started["dates"] == {"shop": day, "imported": day}
    assert (delivered["sent"], delivered["pending"], delivered["failed"]) == (1, 0, 0)
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        f"{day}-mixed-digest.eml",
        f"{day}-mixed.slack.json",
    ]
    runs = {name: app.AsyncResult(task_id).get(timeout=10) for name, task_id in started["runs"].items()}
    assert runs["shop"]["ok"] is True
    assert runs["imported"]["ok"] is False
    assert "has no data yet" in runs["imported"]["error"]


@pytest.mark.usefixtures("worker")
def test_a_property_without_a_report_date_is_named_in_the_digest_of_the_others(
    settings: Settings, tmp_path: Path
) -> None:
    started, delivered = run_digest("mixed")  # the newest final day: "imported" has none

    assert started["dates"]["imported"] is None
    assert (delivered["sent"], delivered["pending"], delivered["failed"]) == (1, 0, 0)
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "imported: no fresh data (property 'imported' has no data yet" in text
