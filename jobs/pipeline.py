"""The daily pipeline as plain functions: fetch -> detect -> (summarise, deliver elsewhere).

``barometer run`` and the Celery tasks call these same functions. Each is idempotent:
points and findings are upserted on natural keys, so a retry or a second run for the same
day changes nothing that was already right.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from jobs.detection import learning
from jobs.detection.engine import detect
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams
from jobs.domain import Finding, MetricPanel, PropertySpec
from jobs.ports import MetricSource
from jobs.storage import feedback, repo
from jobs.window import CHART_DAYS, history_days

__all__ = [
    "CHART_DAYS",
    "FetchPlan",
    "day_panels",
    "detect_day",
    "fetch",
    "history_days",
    "learned",
    "learned_params",
    "plan_fetch",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FetchPlan:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def plan_fetch(
    *, fetched_through: date | None, last_final: date, data_date: date, today: date, history: int
) -> FetchPlan:
    """What to fetch: first time, the whole training history; afterwards only what is new
    plus the days that were still settling last time (everything after the last final day).

    ``data_date`` older than what was stored pulls its own history window.
    """
    end = max(today - timedelta(days=1), data_date)
    if fetched_through is None or data_date <= fetched_through - timedelta(days=history):
        start = data_date - timedelta(days=history)
    else:
        start = min(fetched_through + timedelta(days=1), last_final)
    return FetchPlan(start=min(start, end), end=end)


def fetch(engine: sa.Engine, source: MetricSource, spec: PropertySpec, *, plan: FetchPlan, last_final: date) -> int:
    """Pull ``plan``'s days from ``source`` into storage; return the points written."""
    prop_id = repo.ensure_property(engine, spec)
    written = repo.upsert_points(engine, prop_id, source.fetch(spec, start=plan.start, end=plan.end))
    repo.set_fetched_through(engine, prop_id, min(last_final, plan.end))
    return written


def detect_day(
    engine: sa.Engine, spec: PropertySpec, params: DetectionParams, *, day: date, last_final: date
) -> tuple[Finding, ...]:
    """Detect anomalies on ``day`` from stored history and store them (upsert)."""
    prop_id, panels, learned = day_panels(engine, spec, params, day=day, last_final=last_final)
    return repo.save_findings(engine, prop_id, detect(panels, learned, day=day))


def day_panels(
    engine: sa.Engine, spec: PropertySpec, params: DetectionParams, *, day: date, last_final: date
) -> tuple[int, tuple[MetricPanel, ...], DetectionParams]:
    """What detecting ``day`` reads: the property's id, its panels from stored history (CTR
    derived) and ``params`` with what its labels taught."""
    prop_id = repo.ensure_property(engine, spec)
    panels = repo.load_panels(
        engine,
        prop_id,
        prop_name=spec.name,
        start=day - timedelta(days=history_days(params)),
        end=day,
        last_final=last_final,
    )
    return prop_id, derive_ctr(panels), learned_params(engine, prop_id, spec.name, params, day=day)


def learned_params(
    engine: sa.Engine, prop_id: int, prop: str, params: DetectionParams, *, day: date
) -> DetectionParams:
    """``params`` with the thresholds the property's labels taught (:mod:`jobs.detection.learning`),
    each logged."""
    taught = learned(engine, prop_id, params, day=day)
    for item in taught.values():
        log.info("property %s: learned threshold %s", prop, item.line())
    return learning.with_learned(params, prop, taught)


def learned(
    engine: sa.Engine, prop_id: int, params: DetectionParams, *, day: date
) -> dict[tuple[str, str], learning.Learned]:
    """The thresholds the property's labels on findings up to ``day`` taught, per (metric, series)."""
    return learning.learn(
        feedback.verdicts(engine, prop_id, since=day - timedelta(days=learning.HISTORY_DAYS)),
        default=lambda metric: params.for_metric(metric).max_p_value,
    )
