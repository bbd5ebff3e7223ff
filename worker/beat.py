"""The beat schedule: one digest entry per subscription, at its ``digest_at`` in its own zone.

How a per-entry timezone survives celery-redbeat (and why this module exists):

* celery 5.7's :class:`~celery.schedules.crontab` matches its fields in ``self.tz``
  (by default the app's timezone, UTC here) and computes the remaining time in UTC, so a
  crontab whose ``tz`` is ``Europe/Berlin`` fires at 08:00 local in winter *and* summer.
  :class:`ZonedCrontab` is exactly that: a crontab with its own IANA zone.
* celery-redbeat 2.4 keeps every entry as JSON in Redis and re-reads it on every tick.
  Its encoder writes only the five cron fields of a crontab and its decoder rebuilds a
  plain crontab in the app's zone, so a zone (or a ``nowfun``, the usual workaround) is
  silently lost (sibson/redbeat#192). Its ``rrule`` keeps only a fixed UTC offset, so
  08:00 CET would become 09:00 CEST in summer.
* Re-syncing UTC crontabs at beat start-up was rejected: between a DST change and the
  next restart every digest would arrive an hour off.

So :class:`ZonedRedBeatScheduler` is redbeat's scheduler with an entry class whose JSON
carries the zone (``"__type__": "zoned_crontab"``); entries written by plain redbeat still
load. Everything else is redbeat's own: the Redis lock that lets exactly one beat run
(the others block in ``beat_init`` until it is released or expires), ``last_run_at`` kept
across restarts, and the bookkeeping of static entries, which deletes the entry of a
subscription removed from the configuration the next time beat starts
(:meth:`~redbeat.RedBeatScheduler.setup_schedule`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from redbeat.decoder import RedBeatJSONDecoder, RedBeatJSONEncoder
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry, get_redis

from worker import clock
from worker.settings import Settings

__all__ = [
    "DIGEST_TASK",
    "FLUSH_ENTRY",
    "FLUSH_TASK",
    "HOURLY_TASK",
    "ZonedCrontab",
    "ZonedEntry",
    "ZonedRedBeatScheduler",
    "build_hourly_schedule",
    "build_schedule",
    "decode_schedule",
    "encode_schedule",
    "entry_name",
    "hourly_entry_name",
]

DIGEST_TASK = "barometer.digest"
FLUSH_TASK = "barometer.flush_outbox"
#: The beat entry that retries every due pending delivery of any digest.
FLUSH_ENTRY = "flush_outbox"
HOURLY_TASK = "barometer.hourly"


def entry_name(subscription: str) -> str:
    """The beat entry name of a subscription's digest (also its Sentry cron monitor slug)."""
    return f"digest:{subscription}"


def _utc_now() -> datetime:
    # A module-level function (not a lambda) so that equal schedules compare equal; the
    # process clock (worker.clock), so that a controllable clock drives beat in tests.
    return clock.now()


class ZonedCrontab(crontab):  # type: ignore[misc]  # celery ships no type information
    """A crontab whose fields are wall-clock time in ``zone`` (an IANA name), DST-correct.

    ``ZonedCrontab(minute=0, hour=8, zone="Europe/Berlin")`` fires at 08:00 Berlin time
    all year: 07:00 UTC in winter, 06:00 UTC in summer.
    """

    def __init__(
        self,
        minute: Any = "*",
        hour: Any = "*",
        day_of_week: Any = "*",
        day_of_month: Any = "*",
        month_of_year: Any = "*",
        *,
        zone: str = "UTC",
        **kwargs: Any,
    ) -> None:
        self._set_zone(zone)
        kwargs.setdefault("nowfun", _utc_now)
        super().__init__(minute, hour, day_of_week, day_of_month, month_of_year, **kwargs)

    def _set_zone(self, zone: str) -> None:
        self.zone = zone
        self._zoneinfo = ZoneInfo(zone)

    @property
    def tz(self) -> tzinfo:
        return self._zoneinfo

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (aware), as an aware time in ``zone``."""
        start, delta, _now = self.remaining_delta(moment)
        fire: datetime = start + delta
        # Wall-clock arithmetic kept the local time; normalise the UTC offset to it.
        return fire.astimezone(UTC).astimezone(self._zoneinfo)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self._orig_minute,
            self._orig_hour,
            self._orig_day_of_week,
            self._orig_day_of_month,
            self._orig_month_of_year,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, self._fields(), {**self._orig_kwargs, "zone": self.zone})

    def __setstate__(self, state: dict[str, Any]) -> None:
        kwargs = dict(state)
        self._set_zone(kwargs.pop("zone"))
        super().__setstate__(kwargs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZonedCrontab):
            return self.zone == other.zone and bool(super().__eq__(other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash((*map(str, self._fields()), self.zone))

    def __repr__(self) -> str:
        return "<crontab: {} {} {} {} {} {}>".format(*self._fields(), self.zone)


class _Encoder(RedBeatJSONEncoder):  # type: ignore[misc]
    def default(self, o: Any) -> Any:
        if isinstance(o, ZonedCrontab):
            return {**super().default(o), "__type__": "zoned_crontab", "zone": o.zone}
        return super().default(o)


class _Decoder(RedBeatJSONDecoder):  # type: ignore[misc]
    def dict_to_object(self, d: dict[str, Any]) -> Any:
        if d.get("__type__") == "zoned_crontab":
            fields = {k: v for k, v in d.items() if k != "__type__"}
            return ZonedCrontab(**fields)
        return super().dict_to_object(d)


def encode_schedule(schedule: Any) -> str:
    """The JSON redbeat stores for a schedule (a :class:`ZonedCrontab` keeps its zone)."""
    return json.dumps(schedule, cls=_Encoder)


def decode_schedule(text: str) -> Any:
    """Inverse of :func:`encode_schedule`."""
    return json.loads(text, cls=_Decoder)


class ZonedEntry(RedBeatSchedulerEntry):  # type: ignore[misc]
    """A redbeat entry whose stored definition keeps a :class:`ZonedCrontab`'s zone."""

    @staticmethod
    def decode_definition(definition: str) -> Any:
        return decode_schedule(definition)

    def save(self) -> ZonedEntry:
        # Same writes as RedBeatSchedulerEntry.save, with the zone-aware encoder.
        definition = {
            "name": self.name,
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": self.options,
            "schedule": self.schedule,
            "enabled": self.enabled,
        }
        meta = {"last_run_at": self.last_run_at}
        with get_redis(self.app).pipeline() as pipe:
            pipe.hset(self.key, "definition", json.dumps(definition, cls=_Encoder))
            pipe.hsetnx(self.key, "meta", json.dumps(meta, cls=RedBeatJSONEncoder))
            pipe.zadd(self.app.redbeat_conf.schedule_key, {self.key: self.score})
            pipe.execute()
        return self


class ZonedRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    """celery-redbeat's scheduler (Redis-stored entries, single-beat lock) with zoned entries.

    Configure it as ``beat_scheduler = "worker.beat:ZonedRedBeatScheduler"``.
    """

    Entry = ZonedEntry


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The ``beat_schedule`` of ``settings``: entry ``digest:{name}`` per subscription, and
    ``flush_outbox``.

    Each digest entry sends ``barometer.digest`` with ``args [name]`` daily (weekly
    subscriptions: on their ``weekday``) at the subscription's ``digest_at`` in its ``timezone``; ``flush_outbox`` sends
    ``barometer.flush_outbox`` every ``[delivery] flush_every_seconds``. Pure: reads
    nothing but ``settings``.
    """
    schedule: dict[str, dict[str, Any]] = {
        FLUSH_ENTRY: {"task": FLUSH_TASK, "schedule": timedelta(seconds=settings.delivery.flush_every_seconds)}
    }
    for sub in settings.subscriptions:
        at = sub.digest_time
        schedule[entry_name(sub.name)] = {
            "task": DIGEST_TASK,
            "schedule": ZonedCrontab(
                minute=at.minute,
                hour=at.hour,
                day_of_week=sub.weekday if sub.cadence == "weekly" else "*",
                zone=sub.timezone,
            ),
            "args": [sub.name],
        }
    return schedule


def hourly_entry_name(property_name: str) -> str:
    """The beat entry name of a property's hourly watch."""
    return f"hourly:{property_name}"


def build_hourly_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Entry ``hourly:{name}`` per property with ``hourly = true``: ``barometer.hourly``
    with ``args [name]`` at ``[hourly] minute`` past every hour of the property's zone."""
    minute = settings.hourly.minute
    return {
        hourly_entry_name(prop.name): {
            "task": HOURLY_TASK,
            "schedule": ZonedCrontab(minute=minute, zone=prop.timezone),
            "args": [prop.name],
        }
        for prop in settings.properties
        if prop.hourly
    }
