"""The frozen ``Runtime``: what an entry point builds once and hands to the use cases.

An entry point (the CLI, a Celery worker, the console) calls :func:`build` once with the
validated settings and its clock; the use cases receive the runtime instead of looking
each collaborator up in :mod:`worker.bootstrap` again. The engine is made (and, for
SQLite, migrated) when the runtime is built; the summarisers and channels of a
subscription are made the first time they are asked for and then kept, so a digest walk
builds them once.

Today the console uses it (``create_app`` builds one on its first request). The CLI and
the tasks still call :mod:`worker.bootstrap` directly; moving them over is the next step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from alerts.channels import Channel
from alerts.outbox import Target
from jobs.domain import PropertySpec
from jobs.ports import MetricSource, Summariser
from jobs.summary.prompt import Task
from worker import bootstrap
from worker.service import Clock
from worker.settings import Settings

__all__ = ["Runtime", "build"]


@dataclass(frozen=True)
class Runtime:
    """Settings, clock, engine, and the factories of sources, summarisers and channels."""

    settings: Settings
    clock: Clock
    engine: sa.Engine
    _summarisers: dict[tuple[str, str], Summariser] = field(default_factory=dict, repr=False)
    _channels: dict[str, tuple[dict[str, Channel], list[Target]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def source(self, spec: PropertySpec, *, today: date) -> MetricSource:
        """The metric source of one property (anchored on ``today``: made per run)."""
        return bootstrap.source_for(spec, today=today, settings=self.settings)

    def summariser(self, subscription: str, *, task: Task = "digest") -> Summariser:
        with self._lock:
            key = (subscription, task)
            if key not in self._summarisers:
                self._summarisers[key] = bootstrap.summariser_for(
                    self.settings, self.settings.subscription(subscription), task=task
                )
            return self._summarisers[key]

    def channels(self, subscription: str) -> tuple[dict[str, Channel], list[Target]]:
        with self._lock:
            if subscription not in self._channels:
                self._channels[subscription] = bootstrap.channels_for(
                    self.settings, self.settings.subscription(subscription)
                )
            return self._channels[subscription]


def build(settings: Settings, *, clock: Clock) -> Runtime:
    """The runtime of ``settings``: raises ConfigError when the database is not usable."""
    return Runtime(settings=settings, clock=clock, engine=bootstrap.engine(settings))
