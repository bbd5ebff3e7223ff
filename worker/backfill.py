"""``barometer backfill``: load a property's first-time history, resumably.

Search Console keeps 16 months; GA4 history is loaded from ``--start`` or ``--days`` back.
The range always ends at the source's newest final day. Work is recorded per day (GSC) or
per chunk of days (GA4), so a rerun after an interruption or an exhausted quota continues
where it stopped; ``--restart`` forgets that progress first.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from jobs.backfill import BackfillReport, Chunk, backfill
from jobs.errors import BarometerError, InputError
from jobs.storage import progress, repo
from jobs.storage.runs import recorded
from worker.google.auth import guard_account
from worker.service import today_in

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["CHUNK_DAYS", "DEFAULT_DAYS", "GSC_MONTHS", "backfill_property", "months_back"]

#: Search Console keeps this many months of data.
GSC_MONTHS = 16
#: Days loaded when neither --days nor --start is given.
DEFAULT_DAYS = {"ga4": 400, "demo": 400}
#: Days per request chunk: Search Console is queried one day at a time anyway.
CHUNK_DAYS = {"ga4": 28, "gsc": 1, "demo": 28}


def months_back(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier (clipped to that month's length)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def backfill_property(
    runtime: Runtime,
    name: str,
    *,
    days: int | None = None,
    start: date | None = None,
    restart: bool = False,
    today: date | None = None,
    on_start: Callable[[date, date, int], None] | None = None,
    on_chunk: Callable[[Chunk, int], None] | None = None,
) -> BackfillReport:
    """Load history of property ``name`` up to its newest final day.

    ``on_start(first, last, days_to_load)`` is called once the range is known;
    ``on_chunk(chunk, points)`` after each stored chunk.
    """
    settings = runtime.settings
    if days is not None and start is not None:
        raise InputError("--days and --start exclude each other: give one")
    if days is not None and days < 1:
        raise InputError(f"--days: expected a positive number of days, got {days}")
    spec = settings.property(name).spec()
    if spec.source == "csv":
        raise BarometerError(f"property {spec.name!r} has source 'csv': load it with `barometer import`")
    today = today or today_in(spec.timezone)
    engine = runtime.engine
    with guard_account(settings, engine, spec), recorded(engine, job="backfill", target=name, data_date=None):
        source = runtime.source(spec, today=today)
        last = source.last_final_date(spec, today=today)
        oldest = months_back(today, GSC_MONTHS) if spec.source == "gsc" else None
        first = start or (last - timedelta(days=(days or DEFAULT_DAYS.get(spec.source, 0)) - 1))
        if days is None and start is None and oldest is not None:
            first = oldest
        if oldest is not None and first < oldest:
            raise InputError(f"--start {first}: Search Console keeps {GSC_MONTHS} months, the oldest day is {oldest}")
        if first > last:
            raise InputError(f"--start {first} is after the newest final day {last}")
        prop_id = repo.ensure_property(engine, spec)
        if restart:
            progress.forget_days(engine, prop_id, start=first, end=last)
        if on_start is not None:
            done = progress.done_days(engine, prop_id, start=first, end=last)
            on_start(first, last, (last - first).days + 1 - len(done))
        return backfill(
            engine, source, spec, start=first, end=last, chunk_days=CHUNK_DAYS.get(spec.source, 7), on_chunk=on_chunk
        )
