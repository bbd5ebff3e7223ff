"""Fault injection on the production path: real ``celery worker`` and ``celery beat``
processes on real Redis and SQLite/PostgreSQL, a real SMTP server and local Slack (Web
API and webhook) and webhook fakes. Time moves with the shared file clock (see
:mod:`tests.faults.harness`). Each scenario counts, per target, what arrived: every
target gets its digest exactly once, except inside the documented at-least-once window.

| scenario | expected |
|---|---|
| SMTP down and Slack/webhook 5xx across the first attempts, back within a minute | 1 each |
| kill -9 of the whole worker mid-delivery, then a new worker | nothing lost; Slack: found in its |
|   | history (no copy); email: resent with the same Message-ID (the window) |
| Redis restarted while the chord's callback retries | 1 each |
| two workers and two beats | one digest per subscription and day, 1 each |
| a property failing, then recovering | one digest for the day, 1 each |
| PostgreSQL restarted | the worker reconnects, 1 each |
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from jobs.storage.tables import DeliveryRow  # noqa: F401  (the schema the counts read)
from tests.faults import harness
from tests.faults.harness import START, TARGETS, Endpoints, PrivatePostgres, PrivateRedis, Tally, wait_until
from worker import bootstrap, db
from worker.beat import ZonedEntry, ZonedRedBeatScheduler
from worker.celery_app import configure
from worker.clock import set_file_clock
from worker.commands import import_csv
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings

pytestmark = [pytest.mark.redis, pytest.mark.timeout(240)]

DATA_DAY = START.date() - timedelta(days=2)


@dataclass
class Stack:
    """One scenario's configuration, endpoints and processes."""

    directory: Path
    config: Path
    settings: Settings
    endpoints: Endpoints
    client: Celery

    @property
    def database_url(self) -> str:
        return self.settings.storage.database_url

    def advance(self, delta: timedelta) -> None:
        """Move every process's clock forward."""
        self.now += delta
        set_file_clock(self.directory / "clock.txt", self.now)

    now: datetime = START

    def worker(self, name: str = "w1") -> harness.WorkerProcess:
        return harness.worker(self.config, self.endpoints, self.directory / f"{name}.log", name=name)

    def beat(self, name: str = "beat") -> harness.WorkerProcess:
        (self.directory / name).mkdir(exist_ok=True)
        return harness.beat(self.config, self.endpoints, self.directory / f"{name}.log", self.directory / name)

    def digest(self) -> None:
        """Send ``barometer.digest`` as beat does."""
        self.client.send_task("barometer.digest", args=["marketing"])

    def rows(self) -> list[tuple[str, str, int]]:
        return harness.deliveries(self.database_url)

    def wait_attempted(self, times: int = 1) -> None:
        wait_until(
            lambda: len(self.rows()) == 4 and all(a >= times for _, _, a in self.rows()),
            what=f"every delivery attempted {times}x",
        )

    def wait_delivered(self, expected: dict[str, int] | None = None) -> None:
        wanted = expected or dict.fromkeys(TARGETS, 1)
        wait_until(
            lambda: (
                all(self.endpoints.tally().delivered[t] >= n for t, n in wanted.items())
                and all(s == "sent" for _, s, _ in self.rows())
            ),
            seconds=90,
            what=f"deliveries {wanted}",
        )

    def settle(self) -> Tally:
        """Later that day the digest fires again (its deliver task also flushes the outbox):
        nothing new may arrive. Observed through the database: the test reads no task
        results, so nothing of it waits on a broker that a scenario stops."""
        before = self.endpoints.tally()
        runs = "SELECT count(*) FROM job_run WHERE job = 'deliver' AND finished_at IS NOT NULL"
        done = harness.count(self.database_url, runs)
        self.advance(timedelta(hours=3))
        self.digest()
        wait_until(lambda: harness.count(self.database_url, runs) > done, what="the digest to run again")
        after = self.endpoints.tally()
        assert after == before, (before, after)
        return after


@pytest.fixture
def stack_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    made: list[tuple[Stack, list[harness.WorkerProcess]]] = []

    def make(*, database_url: str, broker_url: str, search_data: bool = True) -> Stack:
        endpoints = Endpoints().__enter__()
        config = harness.write_config(tmp_path, database_url=database_url, broker_url=broker_url, endpoints=endpoints)
        for name, value in endpoints.env().items():
            monkeypatch.setenv(name, value)
        settings = load_settings(config)
        if not database_url.startswith("sqlite"):
            db.upgrade(db.create_engine(database_url))
        import_csv(build_runtime(settings), harness.metrics_csv(tmp_path / "shop.csv", DATA_DAY), property_name="shop")
        if search_data:
            import_csv(
                build_runtime(settings), harness.metrics_csv(tmp_path / "search.csv", DATA_DAY), property_name="search"
            )
        bootstrap.forget_engine(database_url)
        client = Celery("fault-client", set_as_current=False)
        configure(client, settings)
        stack = Stack(tmp_path, config, settings, endpoints, client)
        made.append((stack, []))
        return stack

    yield make
    for stack, _ in made:
        stack.client.close()
        stack.endpoints.__exit__(None, None, None)


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'barometer.db'}"


def test_smtp_and_slack_down_across_the_first_attempts_then_back(
    stack_factory: object, tmp_path: Path, redis_url: str
) -> None:
    stack: Stack = stack_factory(database_url=_sqlite(tmp_path), broker_url=redis_url)  # type: ignore[operator]
    stack.endpoints.http(up=False)  # SMTP is down too (nothing listens on its port)
    worker, beat = harness.launch(stack.worker(), stack.beat())
    with harness.stopping(beat, worker):
        stack.digest()
        stack.wait_attempted(1)
        stack.advance(timedelta(minutes=1, seconds=1))  # the first backoff ran out: tried again, still down
        stack.wait_attempted(2)
        stack.endpoints.smtp_up()
        stack.endpoints.http(up=True)
        stack.advance(timedelta(minutes=2, seconds=1))
        stack.wait_delivered()
        tally = stack.settle()
    tally.record("SMTP down + Slack/webhook 5xx, back within a minute")
    assert tally.delivered == dict.fromkeys(TARGETS, 1)


@pytest.mark.parametrize("victim", ["slack_api", "email"])
def test_kill_9_of_the_whole_worker_mid_delivery_then_a_new_worker(
    stack_factory: object, tmp_path: Path, redis_url: str, victim: str
) -> None:
    stack: Stack = stack_factory(database_url=_sqlite(tmp_path), broker_url=redis_url)  # type: ignore[operator]
    stack.endpoints.smtp_up()
    first, beat = harness.launch(stack.worker("w1"), stack.beat())

    def kill_worker() -> None:  # the message is kept; its sender dies before it hears the answer
        os.killpg(first.pid, signal.SIGKILL)

    if victim == "slack_api":
        stack.endpoints.api.on_post = kill_worker
    else:
        assert stack.endpoints.smtp is not None
        stack.endpoints.smtp._handler.on_data = kill_worker
    with harness.stopping(beat, first):
        stack.digest()
        wait_until(lambda: not first.alive, what="the worker to die")
        assert first.process is not None
        assert first.process.wait(10) == -signal.SIGKILL
        (second,) = harness.launch(stack.worker("w2"))
        with harness.stopping(second):
            stack.advance(timedelta(minutes=11))  # the dead worker's lease (10 min) ran out
            stack.wait_delivered()
            tally = stack.settle()
    tally.record(f"kill -9 of the worker while sending to {victim}")
    expected = dict.fromkeys(TARGETS, 1)
    if victim == "email":  # the documented window: resent, with the same Message-ID
        expected["email"] = 2
        first_copy, second_copy = (m.message["Message-ID"] for m in stack.endpoints.emails)
        assert first_copy == second_copy
    assert tally.delivered == expected


def test_redis_restarted_while_the_chord_callback_retries(stack_factory: object, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        stack: Stack = stack_factory(database_url=_sqlite(tmp_path), broker_url=redis.url)  # type: ignore[operator]
        worker, beat = harness.launch(stack.worker(), stack.beat())
        with harness.stopping(beat, worker):
            # The worker process exits when its broker connection drops while it holds a task
            # (kombu's restore of unacknowledged messages fails: celery/celery#9250); compose
            # restarts it (restart: unless-stopped), and so does the test.
            worker.supervise()
            stack.digest()  # SMTP is down: barometer.deliver keeps retrying the email
            wait_until(lambda: ("email", "pending", 1) in stack.rows(), what="the email to be pending")
            redis.restart()
            stack.endpoints.smtp_up()
            stack.advance(timedelta(minutes=2))
            stack.wait_delivered()
            tally = stack.settle()
    finally:
        redis.stop()
    tally.record(f"Redis restarted mid-chord (worker restarted {worker.restarts}x by its supervisor)")
    assert tally.delivered == dict.fromkeys(TARGETS, 1)


def test_two_workers_and_two_beats_send_one_digest_per_subscription_and_day(
    stack_factory: object, tmp_path: Path, redis_url: str
) -> None:
    stack: Stack = stack_factory(database_url=_sqlite(tmp_path), broker_url=redis_url)  # type: ignore[operator]
    stack.endpoints.smtp_up()
    # Beat was down at this morning's 08:00: on start the beat holding the lock catches up once.
    ZonedRedBeatScheduler(app=stack.client)
    ZonedEntry.from_key("barometer:beat:digest:marketing", app=stack.client).reschedule(
        last_run_at=datetime.now(UTC) - timedelta(days=2)
    )
    processes = harness.launch(stack.worker("w1"), stack.worker("w2"), stack.beat("beat1"), stack.beat("beat2"))
    with harness.stopping(*processes):
        stack.digest()  # and a duplicate of the message, as a redelivery would make
        stack.wait_delivered()
        tally = stack.settle()
    tally.record("two workers and two beats")
    assert harness.count(stack.database_url, "SELECT count(*) FROM digest") == 1
    assert tally.delivered == dict.fromkeys(TARGETS, 1)


def test_a_property_failing_then_recovering_is_still_one_digest_for_the_day(
    stack_factory: object, tmp_path: Path, redis_url: str
) -> None:
    stack: Stack = stack_factory(database_url=_sqlite(tmp_path), broker_url=redis_url, search_data=False)  # type: ignore[operator]
    stack.endpoints.smtp_up()
    worker, beat = harness.launch(stack.worker(), stack.beat())
    with harness.stopping(beat, worker):
        stack.digest()  # "search" has no data: it fails, the digest names it
        stack.wait_delivered()
        import_csv(
            build_runtime(stack.settings),
            harness.metrics_csv(tmp_path / "search.csv", DATA_DAY),
            property_name="search",
        )
        bootstrap.forget_engine(stack.database_url)
        tally = stack.settle()  # the day's digest again, "search" recovered
    tally.record("a property failing, then recovering")
    assert harness.count(stack.database_url, "SELECT count(*) FROM digest") == 1
    assert "search: no fresh data" in str(stack.endpoints.emails[0].message.get_body(("plain",)).get_content())
    assert tally.delivered == dict.fromkeys(TARGETS, 1)


@pytest.mark.postgres
def test_postgresql_restarted_the_worker_reconnects_and_nothing_is_lost(
    stack_factory: object, tmp_path: Path, redis_url: str
) -> None:
    postgres = PrivatePostgres()
    postgres.init()
    postgres.start()
    try:
        stack: Stack = stack_factory(database_url=postgres.url, broker_url=redis_url)  # type: ignore[operator]
        worker, beat = harness.launch(stack.worker(), stack.beat())
        with harness.stopping(beat, worker):
            stack.digest()  # SMTP is down
            wait_until(lambda: ("email", "pending", 1) in stack.rows(), what="the email to be pending")
            postgres.restart()  # whatever was in flight loses its database mid-delivery
            stack.endpoints.smtp_up()
            # A row claimed just before the restart stays leased: past the lease it is sent
            # again (the documented window), or found in Slack's history.
            stack.advance(timedelta(minutes=11))
            stack.wait_delivered()
            tally = stack.settle()
    finally:
        postgres.remove()
    tally.record("PostgreSQL restarted")
    assert tally.lost == dict.fromkeys(TARGETS, 0)
    assert tally.duplicated["slack_api"] == 0
    assert max(tally.duplicated.values()) <= 1
