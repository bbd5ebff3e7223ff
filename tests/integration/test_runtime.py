"""The composition root's promise: an entry point builds its collaborators once.

The runtime here is a real :class:`~worker.runtime.Runtime` whose factories are recording
doubles around :mod:`worker.bootstrap`'s (they build the real thing and count), and the
daily run is the real one on the demo data: fetch, detect, immediate alert, digest,
delivery to the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerts.channels import Channel
from alerts.outbox import Target
from alerts.signing import Signer
from jobs.domain import PropertySpec
from jobs.ports import MetricSource, Summariser
from jobs.summary.prompt import Task
from worker import bootstrap, service
from worker.runtime import Factories
from worker.runtime import build as build_runtime
from worker.settings import (
    OutboxSettings,
    PropertySettings,
    Settings,
    StorageSettings,
    SubscriptionSettings,
    WebSettings,
)

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def _settings(url: str, outbox: Path) -> Settings:
    return Settings(
        storage=StorageSettings(database_url=url),
        outbox=OutboxSettings(dir=str(outbox)),
        properties=(
            PropertySettings(name="shop", source="demo", id="ga4"),
            PropertySettings(name="shop-search", source="demo", id="gsc"),
        ),
        subscriptions=(
            SubscriptionSettings(
                name="marketing",
                properties=("shop", "shop-search"),
                email=("team@shop.example",),
                immediate=("outage",),
            ),
        ),
    )


def _recording(made: Counter[str]) -> Factories:
    def engine(settings: Settings) -> sa.Engine:
        made["engine"] += 1
        return bootstrap.engine(settings)

    def source(
        spec: PropertySpec, *, today: date, settings: Settings | None = None, db: sa.Engine | None = None
    ) -> MetricSource:
        made[f"source {spec.name}"] += 1
        return bootstrap.source_for(spec, today=today, settings=settings, db=db)

    def summariser(
        settings: Settings, subscription: SubscriptionSettings, *, task: Task = "digest", db: sa.Engine | None = None
    ) -> Summariser:
        made[f"summariser {subscription.name} {task}"] += 1
        return bootstrap.summariser_for(settings, subscription, task=task, db=db)

    def channels(
        settings: Settings, subscription: SubscriptionSettings, *, clock: service.Clock | None = None
    ) -> tuple[dict[str, Channel], list[Target]]:
        made[f"channels {subscription.name}"] += 1
        return bootstrap.channels_for(settings, subscription, clock=clock)

    return Factories(engine=engine, source=source, summariser=summariser, channels=channels)


def test_a_daily_run_builds_each_collaborator_once(sqlite_url: str, tmp_path: Path) -> None:
    made: Counter[str] = Counter()
    runtime = build_runtime(_settings(sqlite_url, tmp_path / "outbox"), clock=lambda: NOW, factories=_recording(made))

    report = service.run_daily(runtime, now=lambda: NOW)

    assert report.failures == {}
    assert [(d.sent, d.pending, d.failed) for d in report.deliveries] == [(1, 0, 0)]
    assert [a.sent for p in report.properties for a in p.alerts] == [1]  # the GA4 outage, alerted at once
    assert made == {
        "engine": 1,
        "source shop": 1,  # report date and fetch share it
        "source shop-search": 1,
        "summariser marketing alert": 1,
        "summariser marketing digest": 1,
        "channels marketing": 1,  # the alert and the digest go through the same channels
    }


def test_a_second_run_in_the_same_process_builds_nothing_again(sqlite_url: str, tmp_path: Path) -> None:
    made: Counter[str] = Counter()
    runtime = build_runtime(_settings(sqlite_url, tmp_path / "outbox"), clock=lambda: NOW, factories=_recording(made))
    service.run_daily(runtime, now=lambda: NOW)
    first = dict(made)

    later = NOW + timedelta(hours=1)  # a Celery worker's next task: the same runtime
    service.deliver_subscription(runtime, "marketing", now=lambda: later, started=later)
    service.run_daily(runtime, now=lambda: later)

    assert made == first


def test_links_of_a_long_lived_runtime_are_signed_as_of_each_message(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAROMETER_LINK_SECRET", "0123456789abcdef0123")
    moment = [NOW]
    settings = Settings(
        storage=StorageSettings(database_url=sqlite_url), web=WebSettings(public_url="https://barometer.example")
    )
    runtime = build_runtime(settings, clock=lambda: moment[0])
    links = runtime.links()  # made once, kept (as the channels keep theirs)
    signer = Signer(b"0123456789abcdef0123", ttl=timedelta(days=14))

    moment[0] = NOW + timedelta(days=20)  # weeks later, the same worker process sends a digest
    url = links.all_findings(7)

    token = url.split("?t=")[1]
    assert signer.verify(token, purpose="digest", now=moment[0]).finding_id == 7  # not expired: signed just now


@pytest.fixture
def celery_process() -> Iterator[None]:
    """Put the process's Celery settings and runtime back after the test."""
    from worker import celery_app

    saved = celery_app._settings, celery_app._runtime, dict(celery_app.app.conf)
    yield
    celery_app._settings, celery_app._runtime = saved[0], saved[1]
    celery_app.app.conf.update(saved[2])


@pytest.mark.usefixtures("celery_process")
def test_a_worker_process_keeps_one_runtime_and_a_forked_child_builds_its_own(sqlite_url: str, tmp_path: Path) -> None:
    from worker.celery_app import after_fork, app, configure, get_runtime

    settings = _settings(sqlite_url, tmp_path / "outbox")
    configure(app, settings)
    first = get_runtime()
    assert get_runtime() is first  # every task of the process gets the same one
    with first.engine.connect() as conn:  # a pooled connection, as after a task
        conn.execute(sa.text("SELECT 1"))
    parents_pool = first.engine.pool

    after_fork()  # what worker_process_init runs in a new prefork child

    assert first.engine.pool is not parents_pool  # the parent's connections are left to the parent
    child = get_runtime()
    assert child is not first
    with child.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    configure(app, _settings(sqlite_url, tmp_path / "other"))  # new settings: a new runtime
    assert get_runtime() is not child
