"""The frozen ``Runtime``: what an entry point builds once and hands to the use cases.

An entry point (a CLI command, a Celery worker process, the console) calls :func:`build`
once with the validated settings and its clock; the use cases receive the runtime and
never look a collaborator up in :mod:`worker.bootstrap` themselves (an architecture test
holds every module but the composition root to that). The engine is made (and, for
SQLite, migrated) when the runtime is built; a property's source (per ``today``: sources
are anchored on a day), a subscription's summarisers and channels are made the first time
they are asked for and then kept, so a daily run builds each of them once.

:class:`Factories` are how the runtime makes them: :mod:`worker.bootstrap`'s functions,
unless a test passes doubles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import sqlalchemy as sa

from alerts.channels import Channel
from alerts.outbox import Target
from alerts.render.links import Links
from alerts.signing import Signer
from jobs.domain import PropertySpec
from jobs.ports import MetricSource, Summariser
from jobs.summary.prompt import Task
from worker import bootstrap
from worker.clock import clock_for
from worker.settings import Settings, SubscriptionSettings

__all__ = ["Factories", "Runtime", "build"]

Clock = Callable[[], datetime]


class SourceFactory(Protocol):
    def __call__(
        self, spec: PropertySpec, *, today: date, settings: Settings | None = None, db: sa.Engine | None = None
    ) -> MetricSource: ...


class SummariserFactory(Protocol):
    def __call__(
        self,
        settings: Settings,
        subscription: SubscriptionSettings,
        *,
        task: Task = "digest",
        db: sa.Engine | None = None,
    ) -> Summariser: ...


class ChannelsFactory(Protocol):
    def __call__(
        self, settings: Settings, subscription: SubscriptionSettings, *, clock: Clock | None = None
    ) -> tuple[dict[str, Channel], list[Target]]: ...


@dataclass(frozen=True)
class Factories:
    """How a runtime makes its collaborators (each called once per thing it makes)."""

    engine: Callable[[Settings], sa.Engine] = bootstrap.engine
    source: SourceFactory = bootstrap.source_for
    summariser: SummariserFactory = bootstrap.summariser_for
    channels: ChannelsFactory = bootstrap.channels_for


@dataclass(frozen=True)
class Runtime:
    """Settings, clock, engine, and the sources, summarisers and channels made from them."""

    settings: Settings
    clock: Clock
    engine: sa.Engine
    factories: Factories = field(default_factory=Factories, repr=False)
    _sources: dict[tuple[str, date], MetricSource] = field(default_factory=dict, repr=False)
    _summarisers: dict[tuple[str, str], Summariser] = field(default_factory=dict, repr=False)
    _channels: dict[str, tuple[dict[str, Channel], list[Target]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def source(self, spec: PropertySpec, *, today: date) -> MetricSource:
        """The metric source of one property, anchored on ``today`` (one per property and day)."""
        with self._lock:
            key = (spec.name, today)
            if key not in self._sources:
                self._sources[key] = self.factories.source(spec, today=today, settings=self.settings, db=self.engine)
            return self._sources[key]

    def summariser(self, subscription: str, *, task: Task = "digest") -> Summariser:
        """The summariser of a subscription's digests (``"digest"``) or alerts (``"alert"``)."""
        with self._lock:
            key = (subscription, task)
            if key not in self._summarisers:
                self._summarisers[key] = self.factories.summariser(
                    self.settings, self.settings.subscription(subscription), task=task, db=self.engine
                )
            return self._summarisers[key]

    def channels(self, subscription: str) -> tuple[dict[str, Channel], list[Target]]:
        """The channels and delivery targets of a subscription (links signed by :attr:`clock`)."""
        with self._lock:
            if subscription not in self._channels:
                self._channels[subscription] = self.factories.channels(
                    self.settings, self.settings.subscription(subscription), clock=self.clock
                )
            return self._channels[subscription]

    def links(self, *, now: datetime | None = None) -> Links:
        """What messages link to, signed as of ``now`` (else :attr:`clock` at each signing)."""
        return bootstrap.links_for(self.settings, now=now, clock=self.clock)

    def link_signer(self) -> Signer | None:
        """The signer of the links messages carry, or None without a (long enough) secret."""
        return bootstrap.link_signer(self.settings)


def build(settings: Settings, *, clock: Clock | None = None, factories: Factories | None = None) -> Runtime:
    """The runtime of ``settings`` (``clock`` default: the one ``[clock]`` names); raises
    ConfigError when the database is not usable."""
    factories = factories or Factories()
    return Runtime(
        settings=settings,
        clock=clock or clock_for(settings),
        engine=factories.engine(settings),
        factories=factories,
    )
