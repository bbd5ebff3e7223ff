"""First-time history: load many days chunk by chunk, streaming, resumable.

Each chunk (one day for Search Console, a few weeks for GA4) is fetched, upserted in
batches (memory stays flat however long the range) and then recorded as done. A rerun
skips the days already done, so an interrupted backfill (Ctrl-C, a crash, an exhausted
quota) continues where it stopped; upserts make a half-written chunk harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from jobs.domain import PropertySpec
from jobs.errors import InputError
from jobs.ports import MetricSource
from jobs.storage import progress, repo

__all__ = ["BackfillReport", "Chunk", "backfill", "plan_chunks"]


@dataclass(frozen=True, slots=True)
class Chunk:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> Iterator[date]:
        for n in range(self.days):
            yield self.start + timedelta(days=n)


@dataclass(frozen=True, slots=True)
class BackfillReport:
    property: str
    start: date
    end: date
    days_total: int
    days_skipped: int  # done by an earlier run
    days_loaded: int
    points: int


def plan_chunks(todo: list[date], *, chunk_days: int) -> tuple[Chunk, ...]:
    """Runs of consecutive days from the sorted ``todo``, each at most ``chunk_days`` long."""
    chunks: list[Chunk] = []
    for day in todo:
        last = chunks[-1] if chunks else None
        if last is not None and day == last.end + timedelta(days=1) and last.days < chunk_days:
            chunks[-1] = Chunk(last.start, day)
        else:
            chunks.append(Chunk(day, day))
    return tuple(chunks)


def backfill(
    engine: sa.Engine,
    source: MetricSource,
    spec: PropertySpec,
    *,
    start: date,
    end: date,
    chunk_days: int,
    on_chunk: Callable[[Chunk, int], None] | None = None,
) -> BackfillReport:
    """Load ``start..end`` (final days only) except the days an earlier run finished.

    ``on_chunk(chunk, points)`` is called after each stored chunk (a progress bar).
    When every day of the range is done, the property's incremental fetch continues
    after ``end``. Source errors propagate after the finished chunks were recorded.
    """
    if start > end:
        raise InputError(f"backfill {spec.name}: start {start} is after end {end}")
    prop_id = repo.ensure_property(engine, spec)
    done = progress.done_days(engine, prop_id, start=start, end=end)
    every = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    chunks = plan_chunks([d for d in every if d not in done], chunk_days=chunk_days)
    loaded = points = 0
    for chunk in chunks:
        written = repo.upsert_points(engine, prop_id, source.fetch(spec, start=chunk.start, end=chunk.end))
        progress.mark_done(engine, prop_id, chunk.dates(), points=written)
        loaded += chunk.days
        points += written
        if on_chunk is not None:
            on_chunk(chunk, written)
    through = repo.fetched_through(engine, prop_id)
    if through is None or through < end:
        repo.set_fetched_through(engine, prop_id, end)
    return BackfillReport(spec.name, start, end, len(every), len(done), loaded, points)
