"""One big property's daily run spread over Celery workers: split, fit chunks, join.

A property whose largest metric had more than ``[detection] chunk_series`` series on its
newest stored day (:func:`wanted`) is run in three steps instead of one
``barometer.run_property`` task (:mod:`jobs.detection.chunks` holds the numerics):

1. **split** (the ``barometer.run_property`` task itself, :func:`split`): fetch what is new,
   as always; load the day's panels; write chunk ``k``'s inputs (its rows of every panel,
   over the weeks the fit reads) to Redis under ``barometer:chunks:{run}:in:{k}``, and the
   panels under ``…:panels:0``; then the task replaces itself with a chord, keeping its task
   id and its place in a digest's chord;
2. **fit** (``barometer.fit_chunk``, one per chunk, on any worker, :func:`fit_chunk`): fit
   the chunk's rows, write the fits to ``…:out:{k}``, drop the inputs; a re-delivered chunk
   whose fits are written already is done. Transient errors are retried; then the chunk
   reports ``ok: false``, never raises, so that the join always runs;
3. **join** (``barometer.finish_property``, the chord's callback, :func:`finish`): read the
   split's panels back (not the database again: the very rows the chunks were cut from),
   lend the joined fits to the scorers, detect (noise pooled, FDR and the decision over the
   whole panel), store, send immediate alerts. A failed or missing chunk,
   or fits of other rows (the data changed in between), fail the run like any other failure:
   a ``failed`` job-run row with the reason, and ``ok: false`` for the digest.

The split and the join each leave a ``run_property`` job-run row (the join's is the newest).
Keys expire after :data:`TTL` seconds; the join deletes them once it is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import redis
import sqlalchemy.exc

from jobs.errors import BarometerError, SourceTransientError
from jobs.storage.runs import recorded

if TYPE_CHECKING:
    from jobs.detection.scorer import Scorer
    from worker.runtime import Runtime
    from worker.service import PropertyResult
    from worker.settings import Settings

__all__ = ["TRANSIENT", "TTL", "ChunkFailed", "Split", "finish", "fit_chunk", "split", "wanted"]

log = logging.getLogger(__name__)

#: Seconds chunk inputs and fits are kept in Redis: three of the broker's visibility
#: windows, since a chunk whose worker dies (``kill -9``, a lost machine) is re-delivered
#: only once its window has passed, and must still find its inputs then (twice over).
TTL = 3 * 2 * 60 * 60  # 3 x worker.celery_app.VISIBILITY_TIMEOUT (not imported: no Celery here)
#: Worth retrying: the run's (see :mod:`worker.tasks`) and Redis's own connection errors.
TRANSIENT: tuple[type[BaseException], ...] = (
    SourceTransientError,
    OSError,
    sqlalchemy.exc.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class ChunkFailed(BarometerError):
    """A chunk of a property's run failed (after its retries) or its fits are gone."""


@dataclass(frozen=True, slots=True)
class Split:
    """What the join needs to know of the split (JSON for the chord callback)."""

    run: str
    property: str
    data_date: str
    last_final: str
    today: str
    points: int
    chunks: int
    #: how long the split took (fetch, load, chunks written)
    seconds: float = 0.0

    @staticmethod
    def of(data: dict[str, Any]) -> Split:
        return Split(**data)

    def json(self) -> dict[str, Any]:
        return asdict(self)


class _Store:
    def __init__(self, settings: Settings, run: str) -> None:
        self.client: redis.Redis[bytes] = redis.Redis.from_url(settings.broker.url)
        self.prefix = f"barometer:chunks:{run}"

    def put(self, kind: str, chunk: int, blob: bytes) -> None:
        self.client.set(f"{self.prefix}:{kind}:{chunk}", blob, ex=TTL)

    def get(self, kind: str, chunk: int) -> bytes | None:
        value = self.client.get(f"{self.prefix}:{kind}:{chunk}")
        return value if isinstance(value, bytes) else None

    def has(self, kind: str, chunk: int) -> bool:
        return bool(self.client.exists(f"{self.prefix}:{kind}:{chunk}"))

    def drop(self, kind: str, *chunks: int) -> None:
        if chunks:
            self.client.delete(*(f"{self.prefix}:{kind}:{k}" for k in chunks))

    def close(self) -> None:
        self.client.close()


def wanted(runtime: Runtime, name: str) -> bool:
    """Whether ``name`` is big enough to be run in chunks (its stored size; Redis broker)."""
    settings = runtime.settings
    limit = settings.detection.chunk_series
    if limit <= 0 or not settings.broker.url.startswith(("redis://", "rediss://")):
        return False
    from jobs.storage import repo
    from jobs.storage.sizes import stored_series

    prop_id = repo.property_id(runtime.engine, name)
    return prop_id is not None and stored_series(runtime.engine, prop_id) > limit


def split(runtime: Runtime, name: str, *, data_date: date | None, today: date | None, run: str) -> Split:
    """Step 1: what :func:`worker.service.run_property` does up to detection, then the
    chunks' inputs written to Redis (see the module doc)."""
    from jobs import pipeline
    from jobs.detection import chunks
    from jobs.detection.scorer import build_scorers
    from worker import service, tuning
    from worker.google.auth import guard_account

    started = time.perf_counter()
    settings = runtime.settings
    spec = settings.property(name).spec()
    today = today or service.today_in(spec.timezone)
    engine = runtime.engine
    with guard_account(settings, engine, spec):
        last_final = service.report_date(runtime, name, today=today)
        day = data_date or last_final
        if day > last_final:
            raise BarometerError(
                f"{name}: {day} is not final yet; the source has finished counting through {last_final}"
            )
        params = tuning.params_for(settings.detection_params(), engine, name)
        with recorded(engine, job="run_property", target=name, data_date=day):
            points = 0
            if spec.source != "csv":
                points = service.fetch_new(runtime, spec, day=day, last_final=last_final, today=today)
            _, panels, learned = pipeline.day_panels(engine, spec, params, day=day, last_final=last_final)
            jobs = chunks.fit_jobs(build_scorers(panels, learned), day)
            count = chunks.chunk_count(max((j.rows for j in jobs), default=0), settings.detection.chunk_series)
            store = _Store(settings, run)
            try:
                for k in range(count):
                    store.put("in", k, chunks.dumps(chunks.inputs(jobs, k, count)))
                store.put("panels", 0, chunks.dumps(chunks.pack_panels(panels)))  # the join's, not read again
            finally:
                store.close()
    log.info("property %s: %d series x metric on %s split into %d chunks", name, sum(j.rows for j in jobs), day, count)
    seconds = round(time.perf_counter() - started, 3)
    return Split(run, name, day.isoformat(), last_final.isoformat(), today.isoformat(), points, count, seconds)


def fit_chunk(settings: Settings, run: str, chunk: int, *, worker: str) -> dict[str, Any]:
    """Step 2: fit chunk ``chunk`` of ``run`` (idempotent); a small JSON summary naming
    the ``worker`` (its Celery node name) that did it."""
    from jobs.detection import chunks

    started = time.perf_counter()
    store = _Store(settings, run)
    try:
        if not store.has("out", chunk):  # else a re-delivery of a chunk that is done
            blob = store.get("in", chunk)
            if blob is None:
                raise ChunkFailed(f"chunk {chunk + 1}: its inputs are gone (expired after {TTL} s?)")
            store.put("out", chunk, chunks.dumps(chunks.fit(chunks.loads(blob))))
        store.drop("in", chunk)
    finally:
        store.close()
    seconds = round(time.perf_counter() - started, 3)
    log.info("run %s: chunk %d fitted by %s in %.2fs", run, chunk + 1, worker, seconds)
    return {"chunk": chunk, "ok": True, "worker": worker, "seconds": seconds}


def _blob(store: _Store, kind: str, chunk: int, chunks: int) -> bytes:
    blob = store.get(kind, chunk)
    if blob is None:
        what = "the panels" if kind == "panels" else f"chunk {chunk + 1} of {chunks}: its fits"
        raise ChunkFailed(f"{what} are gone (expired after {TTL} s?)")
    return blob


def finish(runtime: Runtime, data: Split, results: list[dict[str, Any]]) -> PropertyResult:
    """Step 3: join the chunks' fits, detect, store and alert (see the module doc)."""
    from jobs import pipeline
    from jobs.detection import chunks
    from jobs.detection.engine import detect
    from jobs.storage import repo
    from worker import alerting, service, tuning

    settings, engine = runtime.settings, runtime.engine
    spec = settings.property(data.property).spec()
    day = date.fromisoformat(data.data_date)
    params = tuning.params_for(settings.detection_params(), engine, data.property)
    store = _Store(settings, data.run)
    try:
        with recorded(engine, job="run_property", target=data.property, data_date=day):
            failed = sorted((r for r in results if not r.get("ok")), key=lambda r: int(r.get("chunk", 0)))
            if failed:
                first = failed[0]
                raise ChunkFailed(f"chunk {int(first['chunk']) + 1} of {data.chunks} failed: {first.get('error')}")
            parts = [chunks.loads(_blob(store, "out", k, data.chunks)) for k in range(data.chunks)]
            panels = chunks.unpack_panels(chunks.loads(_blob(store, "panels", 0, data.chunks)))

            def lend(scorers: Mapping[tuple[str, str], Scorer]) -> None:
                jobs = chunks.fit_jobs(scorers, day)
                chunks.lend(jobs, chunks.join(jobs, parts))

            prop_id = repo.ensure_property(engine, spec)
            learned = pipeline.learned_params(engine, prop_id, spec.name, params, day=day)
            findings = repo.save_findings(engine, prop_id, detect(panels, learned, day=day, lend=lend))
    except BaseException as exc:
        if not isinstance(exc, TRANSIENT):  # kept for the retry otherwise
            store.drop("in", *range(data.chunks))
            store.drop("out", *range(data.chunks))
            store.drop("panels", 0)
        raise
    else:
        store.drop("out", *range(data.chunks))
        store.drop("panels", 0)
    finally:
        store.close()
    workers = sorted({str(r.get("worker")) for r in results})
    log.info(
        "property %s: %d findings on %s from %d chunks fitted by %s",
        data.property,
        len(findings),
        day,
        data.chunks,
        ", ".join(workers),
    )
    alerts: tuple[alerting.AlertReport, ...] = ()
    try:
        alerts = alerting.send_immediate(runtime, data.property, day, findings, now=service.utcnow)
    except Exception:  # the digest still carries these findings; never lose the run over an alert
        log.exception("property %s: immediate alerts for %s failed", data.property, day)
    return service.PropertyResult(
        property=data.property, data_date=day, points=data.points, findings=len(findings), alerts=alerts
    )
