"""Time to detect, measured on the production path: beat (celery-redbeat on real Redis)
fires ``hourly:shop`` by a controllable clock (:class:`worker.clock.ManualClock`), a real
worker runs it against the fake GA4 Data and Realtime APIs through the real client
library, and the alert goes through the outbox.

The conversion tag breaks at 09:10 (key events stop, sessions and events go on). The alert
must be delivered by 10:30; nothing is alerted before the break; when key events come back
at 12:00, a "recovered at 12:00" follow-up goes out once.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from celery import signals
from celery.beat import Service
from celery.contrib.testing.worker import start_worker

from tests.fakes.google_world import GoogleWorld
from worker import clock
from worker.celery_app import BarometerCelery, app, configure
from worker.settings import Settings, load_settings

pytestmark = pytest.mark.redis

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday
BREAK = datetime(2026, 12, 7, 9, 10)  # local (UTC) wall clock
BACK = datetime(2026, 12, 7, 12, 0)


def _per_minute(minute: datetime) -> dict[str, float]:
    """Per-minute counts: a daily curve, a little hour-to-hour wobble, the break."""
    hour = minute.hour + minute.minute / 60
    shape = 0.6 + 0.5 * math.sin((hour - 6) / 24 * 2 * math.pi) + (1.0 if minute.weekday() < 5 else 0.7)
    wobble = 1.0 + ((minute.toordinal() * 24 + minute.hour) * 7919 % 200 - 100) / 1000
    sessions = 12.0 * shape * wobble
    key = 1.2 * shape * wobble
    if BREAK <= minute < BACK:
        key = 0.0
    return {"sessions": sessions, "eventCount": 3.2 * sessions, "keyEvents": key}


def traffic(start: datetime, end: datetime) -> dict[str, float]:
    totals = {"sessions": 0.0, "eventCount": 0.0, "keyEvents": 0.0}
    minute = start
    while minute < end:
        share = min((end - minute) / timedelta(minutes=1), 1.0)
        for name, value in _per_minute(minute).items():
            totals[name] += value * share
        minute += timedelta(minutes=1)
    return totals


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


@pytest.fixture
def manual() -> Iterator[clock.ManualClock]:
    manual = clock.ManualClock(START)
    clock.use(manual)
    yield manual
    clock.use(None)


@pytest.fixture
def world(tmp_path: Path, manual: clock.ManualClock) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as world:
        world.ga4.add_property("123", time_zone="UTC", traffic=traffic, clock=manual)
        yield world


@pytest.fixture
def settings(world: GoogleWorld, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    prop = world.ga4.properties["123"]
    assert prop.traffic is traffic
    extra = f"""
[broker]
url = "{redis_url}"
[hourly]
minute = 10
[[subscriptions]]
name = "marketing"
properties = ["shop"]
email = ["team@shop.example"]
immediate = ["outage", "drop", "spike"]
"""
    path = world.write_config(
        properties=[
            {
                "name": "shop",
                "source": "ga4",
                "id": "properties/123",
                "account": "agency",
                "metrics": ["sessions", "keyEvents"],
                "hourly": True,
            }
        ],
        extra=extra,
    )
    return load_settings(path)


def _alerts(settings: Settings) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(settings.storage.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT d.subscription, d.headline, l.status FROM digest d JOIN delivery l ON l.digest_id = d.id "
                    "WHERE d.subscription LIKE 'marketing/hourly/%' ORDER BY d.id"
                )
            ).all()
    except sa.exc.OperationalError:  # no schema yet
        return []
    finally:
        engine.dispose()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def _wait(probe: Callable[[], Any], *, what: str, attempts: int = 600) -> Any:
    event = threading.Event()
    for _ in range(attempts):
        value = probe()
        if value:
            return value
        event.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_tag_broken_at_9_10_is_alerted_by_10_30_and_its_recovery_follows(
    settings: Settings, manual: clock.ManualClock, tmp_path: Path
) -> None:
    celery = BarometerCelery("barometer-beat", set_as_current=False)
    configure(celery, settings)
    configure(app, settings)
    published: list[str] = []

    def capture(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
        if sender == "barometer.hourly" and headers:
            published.append(headers["id"])

    signals.before_task_publish.connect(capture)
    service = Service(celery, max_interval=0.2, scheduler_cls=celery.conf.beat_scheduler)
    beat = threading.Thread(target=service.start, daemon=True)
    alerted_at: datetime | None = None
    runs: list[tuple[datetime, dict[str, Any]]] = []
    try:
        with running_worker():
            beat.start()
            # beat stores its entries (last run: "now", 08:00) before the clock may move
            store = redis.Redis.from_url(settings.broker.url)
            _wait(lambda: store.exists("barometer:beat:hourly:shop"), what="beat to store hourly:shop")
            store.close()
            while manual() < START + timedelta(hours=5, minutes=20):
                before = len(published)
                due = manual().minute == 10
                if due:

                    def fired(n: int = before) -> bool:
                        return len(published) > n

                    _wait(fired, what=f"beat to fire hourly:shop at {manual():%H:%M}")
                    result = app.AsyncResult(published[-1]).get(timeout=120)
                    runs.append((manual(), result))
                    assert result["ok"], result
                if alerted_at is None and any(s == "sent" and "/recovered/" not in n for n, _, s in _alerts(settings)):
                    alerted_at = manual()
                manual.advance(timedelta(minutes=5))
    finally:
        service.stop()
        beat.join(10)
        signals.before_task_publish.disconnect(capture)

    assert [at.strftime("%H:%M") for at, _ in runs] == ["08:10", "09:10", "10:10", "11:10", "12:10", "13:10"]
    assert alerted_at is not None, f"no hourly alert was delivered; runs: {runs}"
    assert alerted_at <= START.replace(hour=10, minute=30), f"alerted only at {alerted_at:%H:%M}"
    assert alerted_at > START.replace(hour=9, minute=10), "alerted before the tag broke"
    alerts = _alerts(settings)
    first = [a for a in alerts if "/recovered/" not in a[0]]
    assert first[0][0] == "marketing/hourly/shop/10:00"
    assert "key events" in first[0][1].lower()
    assert len(first) == 1, f"the ongoing break was alerted again: {alerts}"
    recovered = [a for a in alerts if "/recovered/" in a[0]]
    assert len(recovered) == 1, alerts
    assert "recovered at 12:00" in recovered[0][1]
    mail = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert any("hourly-shop-10" in name for name in mail), mail
