"""Hourly alerts and their "recovered" follow-ups, through the same outbox as every alert.

* :func:`send_hourly`: for each subscription of the property with ``immediate`` kinds, the
  hourly findings are planned by the immediate-alert policy (:func:`worker.alerting.plan_for`:
  severity floor, mutes, inhibition, and deduplication against everything the
  subscription was told, daily digests included, with the same escalation rule) and what is
  left is stored as one alert per subscription, property and hour
  (``{subscription}/hourly/{property}/{HH}:00``), logged in the alert log and delivered
  exactly once per target. Each incident shows its local window in its note.
* :func:`send_recovered`: one short follow-up per subscription, property and hour that
  lists the incidents that recovered (``.../recovered/{HH}:00``), to the subscriptions
  whose alert carried them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa

from alerts import history
from alerts.render import pretty_metric
from jobs.domain import DeliveryStatus, Digest, Incident
from jobs.hourly import store
from jobs.hourly.domain import HourlyFinding
from jobs.storage import repo
from jobs.storage.tables import AlertLogRow
from worker import alerting

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["hourly_alert_name", "send_hourly", "send_recovered"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_LOG = cast(sa.Table, AlertLogRow.__table__)  # type: ignore[attr-defined]


def hourly_alert_name(subscription: str, property_name: str, slot: datetime, *, recovered: bool = False) -> str:
    """The digest-row name of one hourly alert (or follow-up) of a subscription."""
    what = "recovered/" if recovered else ""
    return f"{subscription}/hourly/{property_name}/{what}{slot:%H}:00"


def _window(h: HourlyFinding) -> str:
    source = "last minutes, realtime" if h.realtime else "hourly"
    return f"hourly watch: {h.start:%H:%M}-{h.end:%H:%M} local time ({source})"


def send_hourly(
    runtime: Runtime, property_name: str, found: Sequence[HourlyFinding], *, slot: datetime, now: Clock
) -> int:
    """Alert the subscriptions that want ``found`` now; return the alerts with a delivery sent."""
    settings = runtime.settings
    if not found:
        return 0
    engine = runtime.engine
    windows = {h.finding.id: h for h in found}
    day = slot.date()
    sent = 0
    for subscription in settings.subscriptions:
        if not subscription.immediate or property_name not in subscription.properties:
            continue
        name = hourly_alert_name(subscription.name, property_name, slot)
        digest = repo.find_digest(engine, name, day)
        if digest is None:
            at = now()
            findings = [h.finding for h in found]
            planned = alerting.plan_for(runtime, subscription, findings, days=[day], at=at, immediate=True)
            if not planned.incidents:
                continue
            incidents = tuple(_noted(i, windows) for i in planned.incidents)
            summary = runtime.summariser(subscription.name, task="alert").summarise(planned.leads, data_date=day)
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
                    incidents=incidents,
                    immediate=True,
                ),
            )
        history.record(engine, digest, now=now())
        report = alerting.deliver_alert(runtime, subscription, digest, property_name=property_name, now=now)
        first = min((d.sent_at for d in report.deliveries if d.sent_at is not None), default=None)
        if first is not None:
            ids = [f.id for f in digest.findings if f.id is not None]
            ids += [f.id for i in digest.incidents for f in i.suppressed if f.id is not None]
            store.set_alerted(engine, ids, at=first)
            sent += 1
    return sent


def _noted(incident: Incident, windows: dict[int | None, HourlyFinding]) -> Incident:
    lead = windows.get(incident.lead.id)
    if lead is None:
        return incident
    return replace(incident, note="; ".join(n for n in (incident.note, _window(lead)) if n))


def _told(engine: sa.Engine, finding_id: int) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_LOG.c.subscription).where(_LOG.c.finding_id == finding_id, _LOG.c.via == "alert")
        ).all()
    return {str(r[0]) for r in rows}


def send_recovered(
    runtime: Runtime,
    property_name: str,
    recovered: Sequence[tuple[store.OpenIncident, datetime]],
    *,
    slot: datetime,
    now: Clock,
) -> int:
    """One follow-up per subscription that was alerted about any of ``recovered``."""
    settings = runtime.settings
    engine = runtime.engine
    day = slot.date()
    tz = settings.property(property_name).timezone
    sent = 0
    for subscription in settings.subscriptions:
        mine = [(i, back) for i, back in recovered if subscription.name in _told(engine, i.finding_id)]
        if not mine:
            continue
        lines = [
            f"{pretty_metric(i.metric)} on {property_name}"
            + ("" if i.series == "total" else f" ({i.series})")
            + f" recovered at {back:%H:%M}"
            + (f" (alerted at {_local(i.alerted_at, tz):%H:%M})" if i.alerted_at else "")
            for i, back in mine
        ]
        name = hourly_alert_name(subscription.name, property_name, slot, recovered=True)
        digest = repo.find_digest(engine, name, day) or repo.save_digest(
            engine,
            Digest(
                subscription=name,
                data_date=day,
                properties=(property_name,),
                findings=(),
                headline=f"Recovered on {property_name}: " + "; ".join(lines),
                summary=" ".join(f"{line} ({tz})." for line in lines),
                generated_at=now(),
                immediate=True,
            ),
        )
        report = alerting.deliver_alert(runtime, subscription, digest, property_name=property_name, now=now)
        sent += any(d.status is DeliveryStatus.SENT for d in report.deliveries)
    log.info("property %s: %d recovery follow-ups sent", property_name, sent)
    return sent


def _local(at: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZoneInfo(tz))
