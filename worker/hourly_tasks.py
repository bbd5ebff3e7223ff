"""The hourly watch's Celery task: ``barometer.hourly(property)``, fired by beat's
``hourly:{property}`` entries (:func:`worker.beat.build_hourly_schedule`).

Thin, like :mod:`worker.tasks`: the run is :func:`worker.hourly.run_hourly` at the
process clock's "now" (:mod:`worker.clock`). Transient failures are retried with backoff
within the hour; anything else is logged and returned as ``{"ok": false}`` (the next
hour runs afresh, and the daily run is never touched).
"""

from __future__ import annotations

import logging
from typing import Any

from jobs.errors import BarometerError
from worker import clock
from worker.celery_app import app, get_runtime
from worker.tasks import TRANSIENT_ERRORS

__all__ = ["hourly"]

log = logging.getLogger(__name__)


def _hourly(task: Any, name: str) -> dict[str, Any]:
    from worker.hourly import run_hourly  # with the run: the worker starts without it

    try:
        result = run_hourly(get_runtime(), name, now=clock.now)
    except TRANSIENT_ERRORS as exc:
        if task.request.retries < task.max_retries:
            log.warning("property %s hourly: transient failure, will retry: %s", name, exc)
            raise
        log.error("property %s hourly: still failing: %s", name, exc)
        return {"property": name, "ok": False, "error": str(exc).splitlines()[0]}
    except BarometerError as exc:
        log.error("property %s hourly failed: %s", name, exc)
        return {"property": name, "ok": False, "error": str(exc).splitlines()[0]}
    return {
        "property": name,
        "ok": True,
        "points": result.points,
        "findings": result.findings,
        "alerts": result.alerts,
        "recovered": result.recovered,
        "skipped": result.skipped,
    }


hourly = app.task(
    _hourly,
    name="barometer.hourly",
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=30,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
)
