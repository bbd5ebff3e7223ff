"""Celery tasks: thin wrappers, names and ISO dates in, logic in :mod:`worker.service`.

``barometer.digest(subscription)`` (fired by beat) fans out one ``barometer.run_property``
per property of the subscription, then ``barometer.deliver`` as the chord callback. A
property over ``[detection] chunk_series`` series replaces its ``run_property`` task with a
chord of ``barometer.fit_chunk`` tasks and ``barometer.finish_property`` (:mod:`worker.chunked`),
which keeps its task id and its place in the digest's chord.
``barometer.flush_outbox`` (beat, every ``[delivery] flush_every_seconds``) attempts every
due pending delivery of any digest. Each task reads the time from :func:`worker.clock.clock_for`
(the wall clock in production); the digest's start moment travels with the chord, so
every retry reports on the same days and belongs to the same scheduled day. The use cases
get the worker process's :class:`~worker.runtime.Runtime` (:func:`worker.celery_app.get_runtime`).

Failure handling, per unit:

* a transient failure (source 429/5xx, network, database unreachable) is retried with
  exponential backoff and jitter, up to :data:`MAX_RETRIES` times;
* a permanent one (revoked credentials, exhausted quota, bad configuration, a bug) is
  not retried. ``run_property`` then returns ``{"ok": false, "error": ...}`` instead of
  raising, so the chord callback still runs and the other properties' digest goes out
  (the service recorded the failure; the digest names it as a notice).

All tasks are idempotent (the service layer's unique keys), so ``acks_late`` re-delivery
is safe; tasks add no side effects of their own.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc
from celery import chord, group
from celery.exceptions import Ignore

from jobs.errors import BarometerError, SourceTransientError
from worker.celery_app import app, get_runtime, get_settings

if TYPE_CHECKING:
    from worker.chunked import Split
    from worker.runtime import Runtime
    from worker.service import PropertyResult

# worker.service and worker.delivery (detection, storage, rendering, channels) are imported
# by the task that needs them: a worker is ready, and a beat or CLI process that only
# sends tasks is started, without loading them.

__all__ = [
    "CHUNK_RETRIES",
    "DELIVER_RETRY_MAX",
    "MAX_RETRIES",
    "TRANSIENT_ERRORS",
    "chunk_chord",
    "deliver",
    "digest",
    "finish_property",
    "fit_chunk",
    "flush_outbox",
    "run_property",
]

log = logging.getLogger(__name__)

#: Worth retrying later. OSError covers ConnectionError and timeouts; SQLAlchemy's
#: OperationalError is how a lost or locked database connection surfaces.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (SourceTransientError, OSError, sqlalchemy.exc.OperationalError)
MAX_RETRIES = 5
#: A chunk of a split property's run is retried fewer times: the whole run waits for it.
CHUNK_RETRIES = 3
RETRY_BACKOFF_MAX = 600
#: Longest wait before re-trying deliveries that are still pending.
DELIVER_RETRY_MAX = 600


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _run_property(task: Any, name: str, data_date: str | None, today: str | None = None) -> dict[str, Any]:
    """Fetch and detect one property on ``data_date``; the result dict is JSON.

    A property bigger than ``[detection] chunk_series`` is split instead, and the task
    replaced by a chord of ``barometer.fit_chunk`` tasks and ``barometer.finish_property``,
    whose result becomes this task's (:mod:`worker.chunked`)."""
    from worker import chunked, service

    try:
        runtime = get_runtime()
        if chunked.wanted(runtime, name):
            split = chunked.split(runtime, name, data_date=_day(data_date), today=_day(today), run=task.request.id)
            return task.replace(chunk_chord(split))  # type: ignore[no-any-return]  # raises Ignore
        result = service.run_property(runtime, name, data_date=_day(data_date), today=_day(today))
    except Ignore:
        raise
    except TRANSIENT_ERRORS as exc:
        if task.request.retries < task.max_retries:
            log.warning("property %s: transient failure, will retry: %s", name, exc)
            raise  # autoretry_for schedules the retry with backoff
        log.error("property %s: still failing after %d retries: %s", name, task.request.retries, exc)
        return _failed(name, data_date, exc)
    except BarometerError as exc:  # auth, quota, configuration, input: retrying would not help
        log.error("property %s failed: %s", name, exc)
        return _failed(name, data_date, exc)
    except Exception as exc:  # a bug in one property must not sink the others' digest
        log.exception("property %s failed unexpectedly", name)
        return _failed(name, data_date, exc)
    return _succeeded(result)


def _succeeded(result: PropertyResult) -> dict[str, Any]:
    return {
        "property": result.property,
        "data_date": result.data_date.isoformat(),
        "ok": True,
        "points": result.points,
        "findings": result.findings,
    }


def chunk_chord(split: Split) -> Any:
    """The chord that fits ``split``'s chunks on any workers, then joins them."""
    header = [fit_chunk.si(split.run, k) for k in range(split.chunks)]
    return chord(header, finish_property.s(split.json()))


def _fit_chunk(task: Any, run: str, chunk: int) -> dict[str, Any]:
    """Fit one chunk of a property's run; ``ok: false`` (not an exception) once retries are
    spent, so that the join runs and records the run as failed."""
    from worker import chunked

    try:
        return chunked.fit_chunk(get_settings(), run, chunk, worker=str(task.request.hostname))
    except chunked.TRANSIENT as exc:
        if task.request.retries < task.max_retries:
            log.warning("run %s: chunk %d: transient failure, will retry: %s", run, chunk + 1, exc)
            raise task.retry(exc=exc, countdown=_backoff(task)) from exc
        log.error("run %s: chunk %d still failing after %d retries: %s", run, chunk + 1, task.request.retries, exc)
        return {"chunk": chunk, "ok": False, "error": _reason(exc)}
    except BarometerError as exc:  # its inputs are gone: retrying would not bring them back
        log.error("run %s: chunk %d failed: %s", run, chunk + 1, exc)
        return {"chunk": chunk, "ok": False, "error": _reason(exc)}
    except Exception as exc:
        log.exception("run %s: chunk %d failed", run, chunk + 1)
        return {"chunk": chunk, "ok": False, "error": _reason(exc)}


def _finish_property(task: Any, results: list[dict[str, Any]], split: dict[str, Any]) -> dict[str, Any]:
    """Join a split property's chunks, detect, store and alert (the chord's callback)."""
    from worker import chunked

    data = chunked.Split.of(split)
    started = time.perf_counter()
    try:
        result = chunked.finish(get_runtime(), data, results)
    except chunked.TRANSIENT as exc:
        if task.request.retries < task.max_retries:
            log.warning("property %s: transient failure joining chunks, will retry: %s", data.property, exc)
            raise task.retry(exc=exc, countdown=_backoff(task)) from exc
        log.error("property %s: joining still failing after %d retries: %s", data.property, task.request.retries, exc)
        return _failed(data.property, data.data_date, exc)
    except BarometerError as exc:  # a chunk failed, or the data changed under the run
        log.error("property %s failed: %s", data.property, exc)
        return _failed(data.property, data.data_date, exc)
    except Exception as exc:
        log.exception("property %s: joining its chunks failed", data.property)
        return _failed(data.property, data.data_date, exc)
    joined = round(time.perf_counter() - started, 3)
    return _succeeded(result) | {"chunks": results, "split_seconds": data.seconds, "join_seconds": joined}


def _backoff(task: Any) -> float:
    """Seconds before retry ``n``: 1, 2, 4, ... up to :data:`RETRY_BACKOFF_MAX`, with jitter."""
    return float(min(RETRY_BACKOFF_MAX, 2**task.request.retries) * random.uniform(0.5, 1.0))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _failed(name: str, data_date: str | None, exc: BaseException) -> dict[str, Any]:
    error = _reason(exc)
    return {"property": name, "data_date": data_date, "ok": False, "error": error}


def _deliver(
    task: Any, results: list[dict[str, Any]], subscription: str, data_date: str | None, now: str | None = None
) -> dict[str, Any]:
    """Build (once) and deliver (once per target) the digest; retry while some are pending.

    ``data_date`` None reports on each property's newest final day as of ``now`` (the
    moment the digest was started, so that a chord finishing after midnight reports on
    the same days it fetched).
    """
    from worker import delivery, service

    failed = [r["property"] for r in results if not r.get("ok", False)]
    if failed:
        log.warning("subscription %s: delivering without fresh data for %s", subscription, ", ".join(failed))
    runtime = get_runtime()
    settings, clock = runtime.settings, runtime.clock
    # The start moment fixes which days are reported on; the live clock decides what is due.
    moment = datetime.fromisoformat(now) if now else clock()
    report = service.deliver_subscription(runtime, subscription, data_date=_day(data_date), now=clock, started=moment)
    if task.request.retries == 0:  # every digest run also attempts the other digests' due deliveries
        delivery.flush_outbox(runtime, now=clock, skip={report.digest_id} if report.digest_id else ())
    outcome = {
        "subscription": report.subscription,
        "data_date": report.data_date.isoformat(),
        "digest_id": report.digest_id,
        "sent": report.sent,
        "pending": report.pending,
        "failed": report.failed,
    }
    if report.pending:
        retries = task.request.retries
        if retries < task.max_retries:
            countdown = min(DELIVER_RETRY_MAX, settings.delivery.retry_seconds * 2**retries)
            log.warning(
                "subscription %s: %d deliveries pending, retry in %.0fs", subscription, report.pending, countdown
            )
            raise task.retry(countdown=countdown)
        log.warning(
            "subscription %s: %d deliveries still pending; barometer.flush_outbox retries them",
            subscription,
            report.pending,
        )
    return outcome


def _report_day(runtime: Runtime, name: str, *, today: date) -> str | None:
    """The property's report date, or None when it cannot be known (its run then fails on
    its own and the digest names it; the other properties go on)."""
    from worker import service

    try:
        return service.report_date(runtime, name, today=today).isoformat()
    except BarometerError as exc:
        log.warning("property %s: no report date: %s", name, exc)
        return None


def _digest(subscription: str, data_date: str | None = None) -> dict[str, Any]:
    """Resolve the data date of each property and start the chord; return its id.

    With ``data_date`` None each property reports on its newest final day, as seen now in
    the property's timezone (the dates the service's own default would pick).
    """
    from worker import service

    runtime = get_runtime()
    settings = runtime.settings
    started = runtime.clock()
    names = settings.subscription(subscription).properties
    todays = {name: service.today_in(settings.property(name).timezone, now=lambda: started) for name in names}
    if data_date is None:
        dates = {name: _report_day(runtime, name, today=todays[name]) for name in names}
    else:
        dates = dict.fromkeys(names, date.fromisoformat(data_date).isoformat())
    # Task ids chosen here so the caller can look up each property's outcome.
    runs = {name: str(uuid.uuid4()) for name in names}
    header = group(
        run_property.si(name, dates[name], todays[name].isoformat()).set(task_id=runs[name]) for name in names
    )
    result = chord(header)(deliver.s(subscription, data_date, started.isoformat()))
    log.info("subscription %s: digest started for %s (chord %s)", subscription, dates, result.id)
    return {"subscription": subscription, "dates": dates, "runs": runs, "chord_id": result.id}


run_property = app.task(
    _run_property,
    name="barometer.run_property",
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
fit_chunk = app.task(
    _fit_chunk,
    name="barometer.fit_chunk",
    bind=True,
    max_retries=CHUNK_RETRIES,
)
finish_property = app.task(
    _finish_property,
    name="barometer.finish_property",
    bind=True,
    max_retries=MAX_RETRIES,
)
deliver = app.task(
    _deliver,
    name="barometer.deliver",
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)


def _flush_outbox() -> dict[str, int]:
    """Attempt every due pending delivery of any digest (beat, every few minutes)."""
    from worker import delivery

    runtime = get_runtime()
    report = delivery.flush_outbox(runtime, now=runtime.clock)
    return {
        "digests": report.digests,
        "sent": report.sent,
        "pending": report.pending,
        "failed": report.failed,
        "overdue": report.overdue,
    }


flush_outbox = app.task(
    _flush_outbox,
    name="barometer.flush_outbox",
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=MAX_RETRIES,
)
digest = app.task(_digest, name="barometer.digest", autoretry_for=TRANSIENT_ERRORS, max_retries=MAX_RETRIES)
