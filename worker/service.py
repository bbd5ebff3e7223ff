"""Use cases: what ``barometer run`` and the Celery tasks do, as plain functions.

Each takes the entry point's :class:`~worker.runtime.Runtime` (settings, clock, engine,
sources, summarisers, channels: built once per process or command) and names/dates, so a
task can call it with the ids it was given. Each is idempotent and records a job-run row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from alerts import history, outbox
from jobs import pipeline
from jobs.domain import Delivery, DeliveryStatus, Digest, PropertySpec
from jobs.errors import BarometerError
from jobs.storage import repo
from jobs.storage.layout import base_subscription
from jobs.storage.runs import latest_failures, recorded
from worker import alerting, delivery, tuning, weekly
from worker.google.auth import guard_account

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = [
    "Clock",
    "DailyReport",
    "DeliveryReport",
    "PropertyResult",
    "deliver_subscription",
    "fetch_new",
    "report_date",
    "run_daily",
    "run_property",
    "today_in",
    "utcnow",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, timezone-aware (the default ``Clock``)."""
    return datetime.now(UTC)


def today_in(timezone: str, *, now: Clock = utcnow) -> date:
    """Today's date in ``timezone`` (Google reports days in the property's zone)."""
    return now().astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True, slots=True)
class PropertyResult:
    property: str
    data_date: date
    points: int
    findings: int
    #: Immediate alerts this run sent or retried (subscriptions with ``immediate`` kinds).
    alerts: tuple[alerting.AlertReport, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    subscription: str
    data_date: date
    digest_id: int | None
    deliveries: tuple[Delivery, ...]
    #: Follow-ups sent with this call (properties the digest went out without).
    follow_ups: tuple[DeliveryReport, ...] = ()

    def count(self, status: DeliveryStatus) -> int:
        return sum(1 for d in self.deliveries if d.status is status)

    @property
    def sent(self) -> int:
        return self.count(DeliveryStatus.SENT)

    @property
    def pending(self) -> int:
        return self.count(DeliveryStatus.PENDING)

    @property
    def failed(self) -> int:
        return self.count(DeliveryStatus.FAILED)


@dataclass(frozen=True, slots=True)
class DailyReport:
    properties: tuple[PropertyResult, ...]
    failures: dict[str, str]
    deliveries: tuple[DeliveryReport, ...]
    #: The other digests' pending deliveries attempted at the end of the run.
    flushed: delivery.FlushReport | None = None


def report_date(runtime: Runtime, property_name: str, *, today: date) -> date:
    """The newest date the property's source has finished counting.

    Imported CSV data counts as final: its newest stored day.
    """
    settings = runtime.settings
    spec = settings.property(property_name).spec()
    if spec.source == "csv":
        engine = runtime.engine
        prop_id = repo.property_id(engine, spec.name)
        newest = None if prop_id is None else repo.latest_day(engine, prop_id)
        if newest is None:
            raise BarometerError(f"property {spec.name!r} has no data yet: load it with `barometer import`")
        return newest
    return runtime.source(spec, today=today).last_final_date(spec, today=today)


def run_property(
    runtime: Runtime,
    name: str,
    *,
    data_date: date | None = None,
    today: date | None = None,
    now: Clock = utcnow,
) -> PropertyResult:
    """Fetch what is new (plus the days still settling) and detect anomalies on one day,
    then send the immediate alerts subscriptions want for what was found.

    A failure of the alerts is logged (ERROR) and does not fail the run: the digest
    carries the same findings later.
    """
    settings = runtime.settings
    spec = settings.property(name).spec()
    today = today or today_in(spec.timezone)
    engine = runtime.engine
    with guard_account(settings, engine, spec):
        last_final = report_date(runtime, name, today=today)
        day = data_date or last_final
        if day > last_final:
            raise BarometerError(
                f"{name}: {day} is not final yet; the source has finished counting through {last_final}"
            )
        params = tuning.params_for(settings.detection_params(), engine, name)  # the console's saved tuning wins
        with recorded(engine, job="run_property", target=name, data_date=day):
            points = 0
            if spec.source != "csv":
                points = fetch_new(runtime, spec, day=day, last_final=last_final, today=today)
            findings = pipeline.detect_day(engine, spec, params, day=day, last_final=last_final)
    log.info("property %s: %d points fetched, %d findings on %s", name, points, len(findings), day)
    alerts: tuple[alerting.AlertReport, ...] = ()
    try:
        alerts = alerting.send_immediate(runtime, name, day, findings, now=now)
    except Exception:  # the digest still carries these findings; never lose the run over an alert
        log.exception("property %s: immediate alerts for %s failed", name, day)
    return PropertyResult(property=name, data_date=day, points=points, findings=len(findings), alerts=alerts)


def fetch_new(runtime: Runtime, spec: PropertySpec, *, day: date, last_final: date, today: date) -> int:
    """Fetch what is new for ``day`` (plus the days still settling); the points written."""
    settings = runtime.settings
    engine = runtime.engine
    plan = pipeline.plan_fetch(
        fetched_through=repo.fetched_through(engine, repo.ensure_property(engine, spec)),
        last_final=last_final,
        data_date=day,
        today=today,
        history=pipeline.history_days(settings.detection_params()),
    )
    source = runtime.source(spec, today=today)
    return pipeline.fetch(engine, source, spec, plan=plan, last_final=last_final)


def _data_dates(
    runtime: Runtime, names: Sequence[str], *, data_date: date | None, now: Clock
) -> tuple[dict[str, date], dict[str, str]]:
    """Each property's report date, and the reason for each whose date cannot be known."""
    settings = runtime.settings
    if data_date is not None:
        return dict.fromkeys(names, data_date), {}
    dates, problems = {}, {}
    for name in names:
        try:
            dates[name] = report_date(runtime, name, today=today_in(settings.property(name).timezone, now=now))
        except BarometerError as exc:
            problems[name] = str(exc)
    return dates, problems


def deliver_subscription(
    runtime: Runtime,
    name: str,
    *,
    data_date: date | None = None,
    now: Clock = utcnow,
    started: datetime | None = None,
    force: bool = False,
) -> DeliveryReport:
    """Build the subscription's digest once and deliver it exactly once per target.

    Without ``data_date`` this is the *scheduled* digest of the day ``started`` falls on in
    the subscription's zone (``started``: the moment the digest run began, default
    ``now()``; a retry passes the same one). That (subscription, day) is its identity: a
    property failing or recovering never makes a second digest for the day. Each property
    reports on its newest final day as of ``started``. With ``data_date`` it is the digest
    about that day (any digest already stored for it is reused).

    ``now`` is the live clock the outbox judges due deliveries, leases and backoffs by;
    ``force`` (a run started by a person) attempts pending deliveries now, backoff or not.
    A second call re-sends nothing that was delivered and retries what is pending. With
    ``follow_up`` on, a property the digest went out without that has data now is sent
    once, as a follow-up. Pending immediate alerts are retried first. With
    ``quiet_digest`` off, a day with nothing new and no notices sends nothing.
    """
    settings = runtime.settings
    subscription = settings.subscription(name)
    engine = runtime.engine
    moment = started or now()
    dates, problems = _data_dates(runtime, subscription.properties, data_date=data_date, now=lambda: moment)
    scheduled = today_in(subscription.timezone, now=lambda: moment) if data_date is None else None
    existing = (
        repo.find_scheduled(engine, name, scheduled)
        if scheduled is not None
        else repo.find_digest(engine, name, data_date)  # type: ignore[arg-type]
    )
    if existing is None and not dates:
        raise BarometerError(
            f"subscription {name!r}: no property has data to report on ({'; '.join(problems.values())})"
        )
    key_date = existing.data_date if existing is not None else max(dates.values())
    with recorded(engine, job="deliver", target=name, data_date=key_date):
        alerting.flush_alerts(runtime, subscription, until=key_date, now=now)
        build = weekly.build_weekly if subscription.cadence == "weekly" else alerting.build_digest
        digest = existing or build(runtime, name, dates, problems=problems, now=now, scheduled_day=scheduled)
        history.record(engine, digest, now=now())  # idempotent: repairs a crash right after the save
        follow_ups = _follow_ups(runtime, digest, dates, problems, now=now, force=force)
        if not digest.findings and not digest.notices and not subscription.quiet_digest:
            log.info("subscription %s: nothing new to report on %s and quiet digests are off", name, key_date)
            return DeliveryReport(name, key_date, digest.id, (), follow_ups)
        deliveries = _send(runtime, digest, now=now, force=force)
    report = DeliveryReport(name, key_date, digest.id, deliveries, follow_ups)
    log.info(
        "subscription %s: digest %s for %s: %d sent, %d pending, %d failed",
        name,
        digest.id,
        key_date,
        report.sent,
        report.pending,
        report.failed,
    )
    return report


def _send(runtime: Runtime, digest: Digest, *, now: Clock, force: bool) -> tuple[Delivery, ...]:
    settings = runtime.settings
    channels, targets = runtime.channels(base_subscription(digest.subscription))
    return outbox.deliver(
        runtime.engine,
        digest=digest,
        targets=targets,
        channels=channels,
        now=now,
        max_attempts=settings.delivery.max_attempts,
        force=force,
    )


def _follow_ups(
    runtime: Runtime,
    digest: Digest,
    dates: dict[str, date],
    problems: dict[str, str],
    *,
    now: Clock,
    force: bool,
) -> tuple[DeliveryReport, ...]:
    """Send, once each, the properties ``digest`` went out without that have data now
    (only for subscriptions with ``follow_up`` on)."""
    settings = runtime.settings
    subscription = settings.subscription(digest.subscription)
    if not subscription.follow_up or not digest.missing:
        return ()
    engine = runtime.engine
    reports = []
    for prop in digest.missing:
        day = dates.get(prop)
        if (
            day is None
            or prop in problems
            or latest_failures(engine, job="run_property", targets=[prop], data_date=day)
        ):
            continue  # still without data
        follow = alerting.build_follow_up(runtime, subscription, prop, day, parent=digest, now=now)
        history.record(engine, follow, now=now())
        deliveries = _send(runtime, follow, now=now, force=force)
        reports.append(DeliveryReport(follow.subscription, day, follow.id, deliveries))
        log.info("subscription %s: follow-up %s with %s's data for %s", subscription.name, follow.id, prop, day)
    return tuple(reports)


def _follow_up_rows(report: DeliveryReport) -> tuple[Delivery, ...]:
    return tuple(d for f in report.follow_ups for d in f.deliveries)


def run_daily(
    runtime: Runtime,
    *,
    data_date: date | None = None,
    only_property: str | None = None,
    now: Clock = utcnow,
    force: bool = False,
) -> DailyReport:
    """The whole daily pipeline in-process: every property, then every subscription, then
    every other digest's due pending deliveries (:func:`worker.delivery.flush_outbox`).

    A property that fails is recorded and named in the digest; the others go on.
    ``force`` (a run started by a person): pending deliveries are attempted now, even
    those waiting out a backoff.
    """
    settings = runtime.settings
    names = [p.name for p in settings.properties if only_property in (None, p.name)]
    if only_property is not None and not names:
        settings.property(only_property)  # raises the "no property named" error
    results, failures = [], {}
    for prop_name in names:
        tz = settings.property(prop_name).timezone
        try:
            results.append(run_property(runtime, prop_name, data_date=data_date, today=today_in(tz, now=now), now=now))
        except BarometerError as exc:
            failures[prop_name] = str(exc)
            log.warning("property %s failed: %s", prop_name, exc)
        except Exception as exc:  # a bug in one property must not sink the others
            failures[prop_name] = f"{type(exc).__name__}: {exc}"
            log.exception("property %s failed unexpectedly", prop_name)
    subscriptions = [s for s in settings.subscriptions if set(s.properties) & set(names)]
    started = now()
    deliveries = tuple(
        deliver_subscription(runtime, s.name, data_date=data_date, now=now, started=started, force=force)
        for s in subscriptions
    )
    attempted = {d.digest_id for report in deliveries for d in (*report.deliveries, *_follow_up_rows(report))}
    flushed = delivery.flush_outbox(runtime, now=now, force=force, skip=attempted)
    return DailyReport(tuple(results), failures, deliveries, flushed)
