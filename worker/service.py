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

from alerts import outbox
from alerts.policy import select_findings
from jobs import pipeline
from jobs.domain import Delivery, DeliveryStatus, Digest, Finding, PropertySpec
from jobs.errors import BarometerError
from jobs.storage import llm_calls, repo
from jobs.storage.runs import latest_failures, recorded
from worker import bootstrap
from worker.google_auth import guard_account
from worker.settings import Settings

__all__ = [
    "DailyReport",
    "DeliveryReport",
    "PropertyResult",
    "deliver_subscription",
    "report_date",
    "run_daily",
    "run_property",
    "today_in",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def today_in(timezone: str, *, now: Clock = _utcnow) -> date:
    """Today's date in ``timezone`` (Google reports days in the property's zone)."""
    return now().astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True, slots=True)
class PropertyResult:
    property: str
    data_date: date
    points: int
    findings: int


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
    settings: Settings, name: str, *, data_date: date | None = None, today: date | None = None
) -> PropertyResult:
    """Fetch what is new (plus the days still settling) and detect anomalies on one day."""
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
    return PropertyResult(property=name, data_date=day, points=points, findings=len(findings))


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
    settings: Settings, name: str, *, data_date: date | None = None, now: Clock = _utcnow
) -> DeliveryReport:
    """Build the subscription's digest once and deliver it exactly once per target.

    Reports on each property's ``data_date`` (default: its newest final day). A second
    call for the same day re-sends nothing that was delivered and retries what is pending.
    """
    subscription = settings.subscription(name)
    engine = bootstrap.engine(settings)
    dates, problems = _data_dates(settings, subscription.properties, data_date=data_date, now=now)
    if not dates:
        raise BarometerError(
            f"subscription {name!r}: no property has data to report on ({'; '.join(problems.values())})"
        )
    key_date = max(dates.values())
    with recorded(engine, job="deliver", target=name, data_date=key_date):
        digest = repo.find_digest(engine, name, key_date) or _build_digest(
            settings, name, dates, problems=problems, now=now
        )
        if not digest.findings and not subscription.quiet_digest:
            log.info("subscription %s: nothing to report on %s and quiet digests are off", name, key_date)
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


def _build_digest(
    settings: Settings, name: str, dates: dict[str, date], *, problems: dict[str, str], now: Clock
) -> Digest:
    subscription = settings.subscription(name)
    engine = bootstrap.engine(settings)
    found: list[Finding] = []
    for prop_name, day in dates.items():
        prop_id = repo.property_id(engine, prop_name)
        if prop_id is not None:
            found += repo.findings_for(engine, prop_id, day)
    findings = select_findings(found, min_severity=subscription.min_severity)
    key_date = max(dates.values())
    failures = dict(problems)
    for prop_name, day in dates.items():
        failures.update(latest_failures(engine, job="run_property", targets=[prop_name], data_date=day))
    notices = tuple(f"{prop}: no fresh data ({reason})" for prop, reason in sorted(failures.items()))
    summary = bootstrap.summariser_for(settings, subscription).summarise(findings, data_date=key_date)
    digest = Digest(
        subscription=name,
        data_date=key_date,
        properties=subscription.properties,
        findings=findings,
        headline=summary.headline,
        summary=summary.text,
        generated_at=now(),
        summariser=summary.summariser,
        notices=notices,
    )
    saved = repo.save_digest(engine, digest)
    if saved.id is not None:
        llm_calls.link_to_digest(engine, summary.call_ids, saved.id)
    return saved


def run_daily(
    settings: Settings,
    *,
    data_date: date | None = None,
    only_property: str | None = None,
    now: Clock = _utcnow,
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
            results.append(run_property(settings, prop_name, data_date=data_date, today=today_in(tz, now=now)))
        except BarometerError as exc:
            failures[prop_name] = str(exc)
            log.warning("property %s failed: %s", prop_name, exc)
        except Exception as exc:  # a bug in one property must not sink the others
            failures[prop_name] = f"{type(exc).__name__}: {exc}"
            log.exception("property %s failed unexpectedly", prop_name)
    subscriptions = [s for s in settings.subscriptions if set(s.properties) & set(names)]
    deliveries = tuple(deliver_subscription(settings, s.name, data_date=data_date, now=now) for s in subscriptions)
    return DailyReport(tuple(results), failures, deliveries)
