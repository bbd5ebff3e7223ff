"""Use cases of the alert policy: building a subscription's digest, immediate alerts.

* :func:`build_digest` applies the policy (:func:`alerts.policy.plan`) to the findings
  of a subscription's properties and stores the digest with its layout, once per
  (subscription, date).
* :func:`send_immediate` runs after a property's detection: for each subscription with
  ``immediate`` kinds it plans an alert of the new critical findings and delivers it
  through the same outbox, at most once per (subscription, property, day). The next
  digest shows the problem with an "already alerted" note.
* :func:`flush_alerts` retries the still-pending deliveries of recent immediate alerts
  (the digest task calls it first, so the digest's notes are accurate).

After a digest or alert is stored, what it showed is written to the alert log
(:func:`alerts.history.record`, idempotent): tomorrow's deduplication reads it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alerts import history, outbox
from alerts.mutes import active_mutes
from alerts.policy import Plan, PolicyParams, plan
from jobs.detection import incidents
from jobs.domain import DataDate, Delivery, DeliveryStatus, Digest, Finding, Label, Ongoing, Severity
from jobs.storage import feedback, llm_calls, repo
from jobs.storage.runs import latest_failures
from worker.digest_notes import source_of, told_hourly
from worker.settings import SubscriptionSettings

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = [
    "LOOKBACK_DAYS",
    "AlertReport",
    "alert_name",
    "build_digest",
    "build_follow_up",
    "deliver_alert",
    "flush_alerts",
    "follow_up_name",
    "params_for",
    "plan_for",
    "send_immediate",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: How far back the alert log is read for deduplication (a longer gap starts afresh anyway).
LOOKBACK_DAYS = 90
#: How far back a digest looks for failed deliveries when it has no previous digest.
FAILURE_WINDOW_DAYS = 7


@dataclass(frozen=True, slots=True)
class AlertReport:
    """One immediate alert and where its deliveries stand."""

    subscription: str
    property_name: str
    data_date: date
    digest_id: int | None
    deliveries: tuple[Delivery, ...]

    @property
    def sent(self) -> int:
        return sum(1 for d in self.deliveries if d.status is DeliveryStatus.SENT)


def alert_name(subscription: str, property_name: str) -> str:
    """The digest-row name of a subscription's immediate alerts for one property."""
    return f"{subscription}/alert/{property_name}"


def params_for(subscription: SubscriptionSettings, *, immediate: bool = False) -> PolicyParams:
    """The policy knobs of ``subscription`` (for its digest, or for its immediate alerts)."""
    if immediate:
        return PolicyParams(
            min_severity=subscription.immediate_min_severity,
            dedup_days=subscription.dedup_days,
            escalation=subscription.escalation,
            kinds=frozenset(subscription.immediate),
            immediate=True,
        )
    return PolicyParams(
        min_severity=subscription.min_severity, dedup_days=subscription.dedup_days, escalation=subscription.escalation
    )


def plan_for(
    runtime: Runtime,
    subscription: SubscriptionSettings,
    findings: Sequence[Finding],
    *,
    days: Sequence[date],
    at: datetime,
    immediate: bool,
) -> Plan:
    engine = runtime.engine
    return plan(
        findings,
        params=params_for(subscription, immediate=immediate),
        subscription=subscription.name,
        mutes=active_mutes(engine, now=at),
        history=history.sightings(
            engine, subscription=subscription.name, since=min(days) - timedelta(days=LOOKBACK_DAYS), until=max(days)
        ),
    )


def build_digest(
    runtime: Runtime,
    name: str,
    dates: Mapping[str, date],
    *,
    problems: Mapping[str, str],
    now: Clock,
    scheduled_day: date | None = None,
) -> Digest:
    """Plan and store ``name``'s digest over each property's ``dates``; the stored one wins.

    ``scheduled_day`` makes it the scheduled digest of that day (its identity); the
    properties without fresh data are named in it and kept as ``missing``."""
    settings = runtime.settings
    subscription = settings.subscription(name)
    engine = runtime.engine
    found: list[Finding] = []
    for prop_name, day in dates.items():
        prop_id = repo.property_id(engine, prop_name)
        if prop_id is not None:
            found += repo.findings_for(engine, prop_id, day)
    at = now()
    key_date = max(dates.values())
    planned = plan_for(runtime, subscription, found, days=list(dates.values()), at=at, immediate=False)
    failures = dict(problems)
    for prop_name, day in dates.items():
        failures.update(latest_failures(engine, job="run_property", targets=[prop_name], data_date=day))
    notices = [f"{prop}: no fresh data ({reason})" for prop, reason in sorted(failures.items())]
    since = history.previous_digest_date(engine, subscription=name, before=key_date)
    notices += history.failed_deliveries(
        engine,
        subscription=name,
        since=since or key_date - timedelta(days=FAILURE_WINDOW_DAYS),
        before=key_date,
    )
    summary = runtime.summariser(subscription.name).summarise(planned.leads, data_date=key_date)
    ongoing = tuple(
        o
        for prop_name, day in dates.items()
        for o in _ongoing(engine, prop_name, day, news=found, min_severity=subscription.min_severity)
    )
    if ongoing and not planned.leads:  # never "all quiet" while an incident is open
        where = ", ".join(subscription.properties)
        n = len(ongoing)
        summary = replace(
            summary,
            headline=f"Nothing new on {where} for {key_date.isoformat()}",
            text=f"No new changes; {n} incident{'s' if n != 1 else ''} still ongoing.",
        )
    told = told_hourly(engine, planned.incidents, since=min(dates.values()), until=at)
    digest = Digest(
        subscription=name,
        data_date=key_date,
        properties=subscription.properties,
        findings=planned.findings,
        headline=summary.headline,
        summary=summary.text,
        generated_at=at,
        summariser=summary.summariser,
        notices=tuple(notices),
        incidents=told,
        held_back=planned.held_back,
        scheduled_day=scheduled_day,
        missing=tuple(sorted(failures)),
        sources=tuple(DataDate(p, source_of(settings, p), d) for p, d in sorted(dates.items())),
        ongoing=ongoing,
    )
    saved = repo.save_digest(engine, digest)
    if saved.id is not None:
        llm_calls.link_to_digest(engine, summary.call_ids, saved.id)
    return saved


def _ongoing(
    engine: sa.Engine, prop_name: str, day: date, *, news: Sequence[Finding], min_severity: Severity
) -> tuple[Ongoing, ...]:
    """The incidents of ``prop_name`` still open on ``day`` (:mod:`jobs.detection.incidents`):
    level shifts and outages at or above ``min_severity``, not labelled away, whose series
    is still off on ``day``."""
    prop_id = repo.property_id(engine, prop_name)
    if prop_id is None:
        return ()
    start = day - timedelta(days=incidents.LOOKBACK_DAYS)
    opened = [
        f
        for f in repo.findings_between(
            engine, prop_id, start=start, end=day - timedelta(days=1), kinds=incidents.OPENERS
        )
        if f.severity.at_least(min_severity)
    ]
    if not opened:
        return ()
    labelled = feedback.labels_between(engine, prop_id, start=start, end=day)
    closed = set()
    for f in opened:
        lab = feedback.matches(f, labelled)
        if lab is not None and lab.label in (Label.EXPECTED, Label.FALSE_ALARM):
            closed.add(f.id)
    wanted = {(f.anomaly.series, f.anomaly.metric) for f in opened}
    metrics = sorted({m for _, m in wanted})
    values: dict[tuple[str, str, str], float] = {}
    for panel in repo.load_panels(
        engine, prop_id, prop_name=prop_name, start=day, end=day, last_final=day, metrics=metrics
    ):
        for row, series in enumerate(panel.series):
            value = float(panel.values[row, -1])
            if (series, panel.metric) in wanted and math.isfinite(value):
                values[prop_name, series, panel.metric] = value
    return incidents.open_incidents(opened, values, day=day, news=news, closed={i for i in closed if i is not None})


def follow_up_name(subscription: str, property_name: str) -> str:
    """The digest-row name of a subscription's follow-up with one property's late data."""
    return f"{subscription}/follow-up/{property_name}"


def build_follow_up(
    runtime: Runtime,
    subscription: SubscriptionSettings,
    property_name: str,
    day: date,
    *,
    parent: Digest,
    now: Clock,
) -> Digest:
    """Plan and store (once per subscription, property and day) the follow-up that adds
    ``property_name``'s findings on ``day`` to ``parent``, which went out without them."""
    engine = runtime.engine
    name = follow_up_name(subscription.name, property_name)
    stored = repo.find_digest(engine, name, day)
    if stored is not None:
        return stored
    prop_id = repo.property_id(engine, property_name)
    found = [] if prop_id is None else list(repo.findings_for(engine, prop_id, day))
    at = now()
    planned = plan_for(runtime, subscription, found, days=[day], at=at, immediate=False)
    summary = runtime.summariser(subscription.name).summarise(planned.leads, data_date=day)
    note = (
        f"Follow-up to the digest for {parent.data_date.isoformat()}: the data of {property_name} for "
        f"{day.isoformat()} arrived after it was sent."
    )
    saved = repo.save_digest(
        engine,
        Digest(
            subscription=name,
            data_date=day,
            properties=(property_name,),
            findings=planned.findings,
            headline=summary.headline,
            summary=summary.text,
            generated_at=at,
            summariser=summary.summariser,
            notices=(note,),
            incidents=planned.incidents,
            held_back=planned.held_back,
        ),
    )
    if saved.id is not None:
        llm_calls.link_to_digest(engine, summary.call_ids, saved.id)
    return saved


def send_immediate(
    runtime: Runtime, property_name: str, day: date, findings: Sequence[Finding], *, now: Clock
) -> tuple[AlertReport, ...]:
    """Alert every subscription of ``property_name`` that wants some of ``findings`` now.

    Idempotent: one alert per (subscription, property, day), stored before it is sent; a
    second call retries its pending deliveries and sends nothing twice.
    """
    settings = runtime.settings
    engine = runtime.engine
    reports = []
    for subscription in settings.subscriptions:
        if not subscription.immediate or property_name not in subscription.properties:
            continue
        name = alert_name(subscription.name, property_name)
        digest = repo.find_digest(engine, name, day)
        if digest is None:
            at = now()
            planned = plan_for(runtime, subscription, findings, days=[day], at=at, immediate=True)
            if not planned.incidents:
                continue
            summariser = runtime.summariser(subscription.name, task="alert")
            summary = summariser.summarise(planned.leads, data_date=day)
            digest = repo.save_digest(
                engine,
                Digest(
                    subscription=name,
                    data_date=day,
                    properties=(property_name,),
                    findings=planned.findings,
                    headline=summary.headline,
                    summary=summary.text,
                    generated_at=at,
                    summariser=summary.summariser,
                    incidents=planned.incidents,
                    immediate=True,
                ),
            )
            if digest.id is not None:
                llm_calls.link_to_digest(engine, summary.call_ids, digest.id)
        history.record(engine, digest, now=now())
        reports.append(deliver_alert(runtime, subscription, digest, property_name=property_name, now=now))
    return tuple(reports)


def flush_alerts(runtime: Runtime, subscription: SubscriptionSettings, *, until: date, now: Clock) -> int:
    """Retry the pending deliveries of ``subscription``'s immediate alerts of the last
    week up to ``until``; return how many alerts were tried."""
    engine = runtime.engine
    ids = history.pending_alerts(engine, subscription=subscription.name, since=until - timedelta(days=7), until=until)
    for digest_id in ids:
        digest = repo.load_digest(engine, digest_id)
        if digest is not None:
            deliver_alert(runtime, subscription, digest, property_name=",".join(digest.properties), now=now)
    return len(ids)


def deliver_alert(
    runtime: Runtime, subscription: SubscriptionSettings, digest: Digest, *, property_name: str, now: Clock
) -> AlertReport:
    """Deliver a stored alert (immediate or hourly) to the subscription's targets, once each."""
    settings = runtime.settings
    channels, targets = runtime.channels(subscription.name)
    deliveries = outbox.deliver(
        runtime.engine,
        digest=digest,
        targets=targets,
        channels=channels,
        now=now,
        max_attempts=settings.delivery.max_attempts,
    )
    report = AlertReport(subscription.name, property_name, digest.data_date, digest.id, deliveries)
    log.info(
        "immediate alert %s for %s on %s to %s: %d of %d sent",
        digest.id,
        property_name,
        digest.data_date,
        subscription.name,
        report.sent,
        len(deliveries),
    )
    return report
