"""Use cases: what ``barometer run`` and the Celery tasks do, as plain functions.

Each takes the validated settings and names/dates (never live objects), so a task can
call it with the ids it was given. Each is idempotent and records a job-run row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from alerts import history, outbox
from jobs import pipeline
from jobs.domain import Delivery, DeliveryStatus, PropertySpec
from jobs.errors import BarometerError
from jobs.storage import repo
from jobs.storage.runs import recorded
from worker import alerting, bootstrap
from worker.google.auth import guard_account
from worker.settings import Settings

__all__ = [
    "Clock",
    "DailyReport",
    "DeliveryReport",
    "PropertyResult",
    "deliver_subscription",
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


def report_date(settings: Settings, property_name: str, *, today: date) -> date:
    """The newest date the property's source has finished counting.

    Imported CSV data counts as final: its newest stored day.
    """
    spec = settings.property(property_name).spec()
    if spec.source == "csv":
        engine = bootstrap.engine(settings)
        prop_id = repo.property_id(engine, spec.name)
        newest = None if prop_id is None else repo.latest_day(engine, prop_id)
        if newest is None:
            raise BarometerError(f"property {spec.name!r} has no data yet: load it with `barometer import`")
        return newest
    return bootstrap.source_for(spec, today=today, settings=settings).last_final_date(spec, today=today)


def run_property(
    settings: Settings,
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
    spec = settings.property(name).spec()
    today = today or today_in(spec.timezone)
    engine = bootstrap.engine(settings)
    with guard_account(settings, engine, spec):
        last_final = report_date(settings, name, today=today)
        day = data_date or last_final
        if day > last_final:
            raise BarometerError(
                f"{name}: {day} is not final yet; the source has finished counting through {last_final}"
            )
        params = settings.detection.params()
        with recorded(engine, job="run_property", target=name, data_date=day):
            points = 0
            if spec.source != "csv":
                points = _fetch(settings, spec, day=day, last_final=last_final, today=today)
            findings = pipeline.detect_day(engine, spec, params, day=day, last_final=last_final)
    log.info("property %s: %d points fetched, %d findings on %s", name, points, len(findings), day)
    alerts: tuple[alerting.AlertReport, ...] = ()
    try:
        alerts = alerting.send_immediate(settings, name, day, findings, now=now)
    except Exception:  # the digest still carries these findings; never lose the run over an alert
        log.exception("property %s: immediate alerts for %s failed", name, day)
    return PropertyResult(property=name, data_date=day, points=points, findings=len(findings), alerts=alerts)


def _fetch(settings: Settings, spec: PropertySpec, *, day: date, last_final: date, today: date) -> int:
    engine = bootstrap.engine(settings)
    plan = pipeline.plan_fetch(
        fetched_through=repo.fetched_through(engine, repo.ensure_property(engine, spec)),
        last_final=last_final,
        data_date=day,
        today=today,
        history=pipeline.history_days(settings.detection.params()),
    )
    source = bootstrap.source_for(spec, today=today, settings=settings)
    return pipeline.fetch(engine, source, spec, plan=plan, last_final=last_final)


def _data_dates(
    settings: Settings, names: Sequence[str], *, data_date: date | None, now: Clock
) -> tuple[dict[str, date], dict[str, str]]:
    """Each property's report date, and the reason for each whose date cannot be known."""
    if data_date is not None:
        return dict.fromkeys(names, data_date), {}
    dates, problems = {}, {}
    for name in names:
        try:
            dates[name] = report_date(settings, name, today=today_in(settings.property(name).timezone, now=now))
        except BarometerError as exc:
            problems[name] = str(exc)
    return dates, problems


def deliver_subscription(
    settings: Settings,
    name: str,
    *,
    data_date: date | None = None,
    now: Clock = utcnow,
    started: datetime | None = None,
) -> DeliveryReport:
    """Build the subscription's digest once and deliver it exactly once per target.

    Reports on each property's ``data_date`` (default: its newest final day as of
    ``started``, the moment the digest run began, default ``now()``; a retry passes the
    same ``started`` and so reports on the same days). ``now`` is the live clock the
    outbox judges due deliveries, leases and backoffs by. A second
    call for the same day re-sends nothing that was delivered and retries what is pending.
    Pending immediate alerts are retried first. With ``quiet_digest`` off, a day with
    nothing new and no notices sends nothing.
    """
    subscription = settings.subscription(name)
    engine = bootstrap.engine(settings)
    moment = started or now()
    dates, problems = _data_dates(settings, subscription.properties, data_date=data_date, now=lambda: moment)
    if not dates:
        raise BarometerError(
            f"subscription {name!r}: no property has data to report on ({'; '.join(problems.values())})"
        )
    key_date = max(dates.values())
    with recorded(engine, job="deliver", target=name, data_date=key_date):
        alerting.flush_alerts(settings, subscription, until=key_date, now=now)
        digest = repo.find_digest(engine, name, key_date) or alerting.build_digest(
            settings, name, dates, problems=problems, now=now
        )
        history.record(engine, digest, now=now())  # idempotent: repairs a crash right after the save
        if not digest.findings and not digest.notices and not subscription.quiet_digest:
            log.info("subscription %s: nothing new to report on %s and quiet digests are off", name, key_date)
            return DeliveryReport(name, key_date, digest.id, ())
        channels, targets = bootstrap.channels_for(settings, subscription)
        deliveries = outbox.deliver(engine, digest=digest, targets=targets, channels=channels, now=now)
    report = DeliveryReport(name, key_date, digest.id, deliveries)
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


def run_daily(
    settings: Settings,
    *,
    data_date: date | None = None,
    only_property: str | None = None,
    now: Clock = utcnow,
) -> DailyReport:
    """The whole daily pipeline in-process: every property, then every subscription.

    A property that fails is recorded and named in the digest; the others go on.
    """
    names = [p.name for p in settings.properties if only_property in (None, p.name)]
    if only_property is not None and not names:
        settings.property(only_property)  # raises the "no property named" error
    results, failures = [], {}
    for prop_name in names:
        tz = settings.property(prop_name).timezone
        try:
            results.append(run_property(settings, prop_name, data_date=data_date, today=today_in(tz, now=now), now=now))
        except BarometerError as exc:
            failures[prop_name] = str(exc)
            log.warning("property %s failed: %s", prop_name, exc)
        except Exception as exc:  # a bug in one property must not sink the others
            failures[prop_name] = f"{type(exc).__name__}: {exc}"
            log.exception("property %s failed unexpectedly", prop_name)
    subscriptions = [s for s in settings.subscriptions if set(s.properties) & set(names)]
    deliveries = tuple(deliver_subscription(settings, s.name, data_date=data_date, now=now) for s in subscriptions)
    return DailyReport(tuple(results), failures, deliveries)
