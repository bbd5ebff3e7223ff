"""Beat on real Redis: entries stored with their zone, removed subscriptions dropped at
start-up, exactly one beat holding the lock, and a due digest reaching a real worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from celery import Celery, signals
from celery.beat import Service
from celery.contrib.testing.worker import start_worker

from worker.beat import ZonedEntry, ZonedRedBeatScheduler
from worker.celery_app import app, configure
from worker.settings import Settings, load_settings

pytestmark = pytest.mark.redis

SCHEDULE_KEY = "barometer:beat::schedule"
LOCK_KEY = "barometer:beat::lock"
BERLIN = ZoneInfo("Europe/Berlin")

SUBSCRIPTIONS = {
    "marketing": 'properties = ["shop", "shop-search"]\ndigest_at = "08:00"\ntimezone = "Europe/Berlin"',
    "seo-us": 'properties = ["shop-search"]\ndigest_at = "07:30"\ntimezone = "America/New_York"',
}

MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> MakeSettings:
    monkeypatch.delenv("SENTRY_DSN", raising=False)

    def make(*subscriptions: str) -> Settings:
        text = f"""
[storage]
database_url = "sqlite:///{tmp_path / "barometer.db"}"
[broker]
url = "{redis_url}"
[outbox]
dir = "{tmp_path / "outbox"}"
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
[[properties]]
name = "shop-search"
source = "demo"
id = "gsc"
metrics = ["clicks", "impressions", "position"]
"""
        for name in subscriptions:
            text += f'[[subscriptions]]\nname = "{name}"\n{SUBSCRIPTIONS[name]}\n'
        path = tmp_path / "barometer.toml"
        path.write_text(text)
        return load_settings(path)

    return make


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis[str]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


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


def beat_app(settings: Settings) -> Celery:
    """A separate app per beat, as each `celery beat` process has its own."""
    celery = Celery("barometer-beat", set_as_current=False)
    configure(celery, settings)
    return celery


def beat_service(celery: Celery) -> Service:
    return Service(celery, max_interval=0.2, scheduler_cls=celery.conf.beat_scheduler)


def test_beat_start_stores_zoned_entries_and_drops_removed_subscriptions(
    make_settings: MakeSettings, store: redis.Redis[str]
) -> None:
    first = beat_app(make_settings("marketing", "seo-us"))
    ZonedRedBeatScheduler(app=first)

    assert sorted(store.zrange(SCHEDULE_KEY, 0, -1)) == [
        "barometer:beat:digest:marketing",
        "barometer:beat:digest:seo-us",
        "barometer:beat:flush_outbox",
    ]
    entry = ZonedEntry.from_key("barometer:beat:digest:marketing", app=first)
    assert (entry.task, entry.args, entry.schedule.zone) == ("barometer.digest", ["marketing"], "Europe/Berlin")
    score = store.zscore(SCHEDULE_KEY, entry.key)
    assert score is not None
    due = datetime.fromtimestamp(round(score / 60) * 60, BERLIN)
    assert (due.hour, due.minute) == (8, 0)

    # The subscription "seo-us" is removed from the configuration; beat restarts.
    second = beat_app(make_settings("marketing"))
    ZonedRedBeatScheduler(app=second)

    assert sorted(store.zrange(SCHEDULE_KEY, 0, -1)) == [
        "barometer:beat:digest:marketing",
        "barometer:beat:flush_outbox",
    ]
    assert not store.exists("barometer:beat:digest:seo-us")


def test_a_restart_keeps_when_an_entry_last_ran(make_settings: MakeSettings) -> None:
    settings = make_settings("marketing")
    first = beat_app(settings)
    ZonedRedBeatScheduler(app=first)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    ZonedEntry.from_key("barometer:beat:digest:marketing", app=first).reschedule(last_run_at=yesterday)

    ZonedRedBeatScheduler(app=beat_app(settings))

    entry = ZonedEntry.from_key("barometer:beat:digest:marketing", app=first)
    assert entry.last_run_at == yesterday


def test_only_one_beat_runs_at_a_time(make_settings: MakeSettings, store: redis.Redis[str]) -> None:
    settings = make_settings("marketing")
    first, second = beat_service(beat_app(settings)), beat_service(beat_app(settings))
    signals.beat_init.send(sender=first)  # what `celery beat` does before its first tick
    assert first.scheduler.lock.owned()
    held_by_first = store.get(LOCK_KEY)
    second_owned: list[bool] = []

    def second_beat() -> None:  # redis locks are per thread: acquire, check and release here
        signals.beat_init.send(sender=second)
        second_owned.append(second.scheduler.lock.owned())
        second.scheduler.close()

    waiting = threading.Thread(target=second_beat, daemon=True)
    waiting.start()
    waiting.join(1.0)

    assert waiting.is_alive(), "a second beat acquired the lock while the first held it"
    assert second.scheduler.lock is None
    assert store.get(LOCK_KEY) == held_by_first

    first.scheduler.close()  # the first beat stops and releases the lock
    waiting.join(30)

    assert not waiting.is_alive()
    assert second_owned == [True]


def test_a_due_digest_goes_from_beat_to_the_worker_and_is_delivered(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings("marketing")
    celery = beat_app(settings)
    ZonedRedBeatScheduler(app=celery)
    # Beat was down at this morning's 08:00: on start it catches up once.
    ZonedEntry.from_key("barometer:beat:digest:marketing", app=celery).reschedule(
        last_run_at=datetime.now(UTC) - timedelta(days=2)
    )
    sent: list[str] = []

    def capture(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
        if sender == "barometer.digest" and headers:
            sent.append(headers["id"])

    signals.before_task_publish.connect(capture)
    service = beat_service(celery)
    beat = threading.Thread(target=service.start, daemon=True)
    configure(app, settings)
    try:
        with running_worker():
            beat.start()
            digest_id = _wait_for(lambda: sent[0] if sent else None)
            started = app.AsyncResult(digest_id).get(timeout=60)
            outcome = app.AsyncResult(started["chord_id"]).get(timeout=60)
    finally:
        service.stop()
        beat.join(10)
        signals.before_task_publish.disconnect(capture)

    assert len(sent) == 1, "the overdue entry fired more than once"
    assert (outcome["subscription"], outcome["sent"], outcome["pending"]) == ("marketing", 1, 0)
    assert sorted(p.suffix for p in (tmp_path / "outbox").iterdir()) == [".eml", ".html", ".json"]  # and the full list


def _wait_for(probe: Callable[[], str | None], attempts: int = 300) -> str:
    """Poll ``probe`` until it returns a value (up to ``attempts`` x 0.1 s)."""
    event = threading.Event()
    for _ in range(attempts):
        value = probe()
        if value is not None:
            return value
        event.wait(0.1)
    raise AssertionError("beat did not send the due digest")
