"""First-time history: load many days chunk by chunk, streaming, resumable.

Each chunk (one day for Search Console, a few weeks for GA4) is fetched, upserted in
batches (memory stays flat however long the range) and then recorded as done. A rerun
skips the days already done, so an interrupted backfill (Ctrl-C, a crash, an exhausted
quota) continues where it stopped; upserts make a half-written chunk harmless.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice

import sqlalchemy as sa

from jobs.domain import Observation, PropertySpec
from jobs.errors import InputError
from jobs.ports import MetricSource
from jobs.storage import progress, repo

__all__ = ["BackfillReport", "Chunk", "backfill", "plan_chunks", "prefetched"]


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


_DONE = object()


def prefetched(
    observations: Iterable[Observation], *, batch: int = 5_000, depth: int = 2
) -> Generator[Observation, None, None]:
    """``observations``, read ahead by a thread: while the caller stores one batch, the next
    one is fetched and parsed (network waits and SQLite release the GIL). At most ``depth``
    batches wait, so memory stays bounded; the reader's exception is raised here, after
    the observations read before it."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            iterator = iter(observations)
            while not stop.is_set() and (chunk := list(islice(iterator, batch))):
                put(chunk)
            put(_DONE)
        except BaseException as exc:  # handed to the consumer and raised there
            put(exc)

    reader = threading.Thread(target=read, name="backfill-prefetch", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield from item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=5.0)  # a reader inside a slow request stops at its next batch


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
        fetched = prefetched(source.fetch(spec, start=chunk.start, end=chunk.end))
        written = repo.upsert_points(engine, prop_id, fetched)
        progress.mark_done(engine, prop_id, chunk.dates(), points=written)
        loaded += chunk.days
        points += written
        if on_chunk is not None:
            on_chunk(chunk, written)
    through = repo.fetched_through(engine, prop_id)
    if through is None or through < end:
        repo.set_fetched_through(engine, prop_id, end)
    return BackfillReport(spec.name, start, end, len(every), len(done), loaded, points)
