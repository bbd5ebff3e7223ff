"""The hourly watch, as a use case: ``run_hourly`` is what ``hourly:{property}`` runs.

Protocol of one run (idempotent; a second run in the same hour sends nothing twice):

1. **Quota first.** The daily run has priority: a run finding the property's daily run
   in progress is skipped. GA4 requests pass the daily fetch's token guard with
   ``[hourly] ga4_reserve_share`` of every budget held back for the daily run; what the
   responses say is left is kept (:mod:`jobs.hourly.quota`), and a run that starts with a
   budget known to be below its reserve sends nothing. Search Console queries pass the
   daily limiter and an hourly budget leaving ``gsc_reserve_share`` of every minute.
2. **Fetch** today and yesterday by the hour (the first run: ``weeks + 1`` weeks of
   history; Search Console: the 10 days it keeps), store them (``hourly_point``), and read
   GA4's last 30 minutes (Realtime API).
3. **Frontier.** Hours are counted once data for them arrived: through the newest hour
   with traffic; hours older than ``ga4_max_lag_hours`` count even when empty. The hour in
   progress is judged against the share of its expectation its elapsed minutes make up.
4. **Detect** (:mod:`jobs.hourly.rules`) on the last complete hours, the hour in progress
   and the realtime minutes; store the findings beside the daily ones and open an
   incident per new problem.
5. **Alert** (:mod:`worker.hourly_alerts`): each subscription with ``immediate`` kinds
   gets one alert per property and hour, planned by the same policy as immediate alerts
   (dedup against what it was told, escalation, inhibition, mutes) and delivered through
   the outbox.
6. **Recover**: an alerted incident whose series is back within bounds is closed with a
   short "recovered at 13:00" follow-up to the subscriptions that got the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from jobs.domain import COUNT_METRICS, PropertySpec
from jobs.errors import BarometerError
from jobs.hourly import quota, store
from jobs.hourly.domain import HOUR, Frontier, HourlyFinding, HourlyPanel, RealtimeWindow, hour_floor
from jobs.hourly.recovery import recovered_at
from jobs.hourly.rules import newest_per_problem, score_panel
from jobs.sources.ga4_hourly import Ga4HourlySource, HourlyFetch, reserve_for
from jobs.storage import repo
from jobs.storage.runs import recorded
from jobs.storage.tables import JobRunRow
from worker import hourly_alerts
from worker.google.auth import guard_account
from worker.settings import ConfigError, Settings

if TYPE_CHECKING:
    from jobs.sources.gsc_hourly import GscHourlySource
    from worker.runtime import Runtime

__all__ = ["HourlyResult", "hourly_metrics", "run_hourly"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Metrics whose total says whether the tag fires at all, most telling first.
TRAFFIC = ("eventCount", "sessions", "screenPageViews", "activeUsers", "totalUsers", "impressions", "clicks")
#: Complete hours re-judged on every run (a run that was late or skipped catches up).
RESCORE_HOURS = 3
#: Days of hourly rows Search Console keeps: a property's first run reads these, and its
#: baseline fills up week by week from then on.
GSC_HOURLY_DAYS = 10
#: A daily run started less than this long ago and not finished has the property's quota.
DAILY_RUN_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class HourlyResult:
    property: str
    points: int
    findings: int
    alerts: int
    recovered: int
    skipped: str = ""


def hourly_metrics(spec: PropertySpec) -> tuple[str, ...]:
    """The counts watched by the hour: the property's count metrics (GA4: plus eventCount,
    the signal that the tag fires at all; Search Console: clicks and impressions)."""
    if spec.source == "gsc":
        return ("clicks", "impressions")
    counts = [m for m in spec.metrics if m in COUNT_METRICS]
    return tuple(dict.fromkeys([*counts, "eventCount"]))


def _daily_running(engine: sa.Engine, name: str, *, now: datetime) -> bool:
    runs = JobRunRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.count())
            .select_from(runs)
            .where(
                runs.c.job == "run_property",
                runs.c.target == name,
                runs.c.status == "running",
                runs.c.started_at >= now - DAILY_RUN_WINDOW,
            )
        ).scalar_one()
    return bool(found)


def run_hourly(runtime: Runtime, name: str, *, now: Clock) -> HourlyResult:
    """One hourly run of property ``name`` at ``now()`` (see the module docstring)."""
    settings = runtime.settings
    prop = settings.property(name)
    if not prop.hourly:
        raise ConfigError(f"properties: {name!r} is not watched by the hour (set hourly = true)")
    spec = prop.spec()
    at = now().astimezone(UTC)
    local_now = at.astimezone(ZoneInfo(spec.timezone)).replace(tzinfo=None)
    today = local_now.date()
    engine = runtime.engine
    prop_id = repo.ensure_property(engine, spec)
    if _daily_running(engine, name, now=at):
        log.info("property %s: the daily run is in progress; this hour's watch yields to it", name)
        return HourlyResult(name, 0, 0, 0, 0, skipped="the daily run is in progress")
    params = settings.hourly.params()
    metrics = hourly_metrics(spec)
    short = _ga4_short(settings, engine, prop_id, spec, at=at)
    if short is not None:
        log.info("property %s: the hourly watch sends nothing this hour: %s", name, short)
        return HourlyResult(name, 0, 0, 0, 0, skipped=short)
    with guard_account(settings, engine, spec), recorded(engine, job="run_hourly", target=name, data_date=today):
        points, realtime = _fetch(runtime, spec, prop_id, metrics, today=today, local_now=local_now, observed_at=at)
        history_start = today - timedelta(days=7 * (params.weeks + 1))
        panels = store.load_hourly(engine, prop_id, prop_name=name, start=history_start, end=today, metrics=metrics)
        lag = settings.hourly.gsc_max_lag_hours if spec.source == "gsc" else settings.hourly.ga4_max_lag_hours
        frontier = _frontier(panels, local_now, lag_hours=lag)
        found = _detect(settings, panels, frontier, realtime)
        stored = store.save_hourly_findings(engine, prop_id, found)
        store.record_incidents(engine, prop_id, stored, at=at)
    slot = hour_floor(local_now)
    alerts = hourly_alerts.send_hourly(runtime, name, stored, slot=slot, now=now)
    recovered = _recover(runtime, name, prop_id, panels, frontier, slot=slot, now=now)
    log.info(
        "property %s hourly at %s: %d points, %d findings, %d alerts, %d recovered",
        name,
        local_now.strftime("%Y-%m-%d %H:%M"),
        points,
        len(stored),
        alerts,
        recovered,
    )
    return HourlyResult(name, points, len(stored), alerts, recovered)


def _ga4_short(settings: Settings, engine: sa.Engine, prop_id: int, spec: PropertySpec, *, at: datetime) -> str | None:
    """Why this run must send nothing to GA4's Data API (a budget known to be below the
    daily run's reserve, see :mod:`jobs.hourly.quota`), or None."""
    if spec.source != "ga4":
        return None
    reserve = reserve_for(settings.hourly.ga4_reserve_share, tier=settings.hourly.ga4_quota_tier)
    floors = {budget: max(settings.google.ga4_min_tokens_left, tokens) for budget, tokens in reserve.items()}
    return quota.short_of(quota.known(engine, prop_id, now=at), floors)


def _fetch(
    runtime: Runtime,
    spec: PropertySpec,
    prop_id: int,
    metrics: tuple[str, ...],
    *,
    today: date,
    local_now: datetime,
    observed_at: datetime,
) -> tuple[int, tuple[RealtimeWindow, ...]]:
    settings = runtime.settings
    engine = runtime.engine
    weeks = settings.hourly.weeks
    oldest = today - timedelta(days=7 * (weeks + 1))
    if spec.source == "gsc":  # Search Console keeps hourly rows for the last 10 days only
        oldest = max(oldest, today - timedelta(days=GSC_HOURLY_DAYS - 1))
    newest = store.newest_hourly_day(engine, prop_id)
    start = oldest if newest is None or newest < oldest else min(newest, today - timedelta(days=1))
    from worker.google import clients  # the Google libraries load only when used

    source: Ga4HourlySource | GscHourlySource
    if spec.source == "ga4":
        source = clients.ga4_hourly_source(settings, spec, today=today, engine=engine)
    elif spec.source == "gsc":
        source = clients.gsc_hourly_source(settings, spec, today=today, engine=engine)
    else:
        raise BarometerError(f"property {spec.name!r}: the hourly watch reads GA4 and Search Console properties")
    breakdowns = settings.property(spec.name).hourly_breakdowns
    plan = HourlyFetch(metrics=metrics, breakdowns=breakdowns, start=start, end=today)
    last_final = source.last_final_date(spec, today=today)
    incomplete = {d for d in store.days_between(start, today) if d > last_final}
    try:
        written = store.upsert_hours(engine, prop_id, source.fetch_hours(spec, plan), incomplete=incomplete)
    finally:
        if isinstance(source, Ga4HourlySource):  # the next runs start from what this one learned
            quota.record(engine, prop_id, source.stats.remaining, at=observed_at)
    realtime: tuple[RealtimeWindow, ...] = ()
    if settings.hourly.realtime:
        realtime = source.realtime(spec, metrics, now_local=local_now)
    return written, realtime


def _frontier(panels: tuple[HourlyPanel, ...], local_now: datetime, *, lag_hours: int) -> Frontier:
    """Counted through the newest hour with traffic on the total (see the module docstring)."""
    current = hour_floor(local_now)
    by_metric = {p.metric: p for p in panels}
    traffic = next((by_metric[m] for m in TRAFFIC if m in by_metric and "total" in by_metric[m].series), None)
    if traffic is None:
        return Frontier(current - lag_hours * HOUR)
    row = np.nan_to_num(traffic.row("total"), nan=0.0)
    upto = min(traffic.index(current) + 1, traffic.hours)
    seen = np.flatnonzero(row[:upto] > 0)
    newest = traffic.hour_at(int(seen[-1])) if seen.size else None
    if newest == current:
        return Frontier(current, partial=local_now.minute / 60.0)
    floor = current - lag_hours * HOUR
    return Frontier(max(newest, floor) if newest is not None else floor)


def _detect(
    settings: Settings, panels: tuple[HourlyPanel, ...], frontier: Frontier, realtime: tuple[RealtimeWindow, ...]
) -> tuple[HourlyFinding, ...]:
    params = settings.hourly.params()
    found: list[HourlyFinding] = []
    windows = {w.metric: w for w in realtime}
    for panel in panels:
        complete = panel.index(frontier.complete)
        targets = range(max(0, complete - RESCORE_HOURS), complete)
        found += score_panel(
            panel,
            frontier,
            params,
            targets=targets,
            realtime=windows.get(panel.metric),
            break_p_value=settings.hourly.break_p_value,
        )
    return newest_per_problem(found)


def _recover(
    runtime: Runtime,
    name: str,
    prop_id: int,
    panels: tuple[HourlyPanel, ...],
    frontier: Frontier,
    *,
    slot: datetime,
    now: Clock,
) -> int:
    settings = runtime.settings
    engine = runtime.engine
    params = settings.hourly.params()
    by_metric = {p.metric: p for p in panels}
    done = []
    for incident in store.open_incidents(engine, prop_id):
        panel = by_metric.get(incident.metric)
        if panel is None:
            continue
        back = recovered_at(
            panel, incident.series, down=incident.down, since=incident.start_local, frontier=frontier, params=params
        )
        if back is None:
            continue
        store.set_recovered(engine, incident.id, local=back)
        if incident.alerted_at is not None:
            done.append((incident, back))
    if done:
        hourly_alerts.send_recovered(runtime, name, done, slot=slot, now=now)
    return len(done)
