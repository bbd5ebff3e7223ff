"""Use cases of the outbox beyond one digest: flush everything due, resend on request.

* :func:`flush_outbox` (the ``barometer.flush_outbox`` beat task, every
  ``[delivery] flush_every_seconds``; also the end of every ``barometer run``) attempts
  every due pending delivery of any digest or alert, so nothing waits for "its" day's
  run. Before that it reports deliveries pending longer than
  ``[delivery] pending_alert_hours``: once each, at ERROR (Sentry), and in the next
  digest. ``force`` (a run started by a person) skips backoffs, never a live lease.
* :func:`retry_deliveries` (``barometer deliveries retry``) puts failed deliveries back
  with a fresh attempt budget, records the resend, and attempts them now.

Channels are those of the digest's subscription as configured *now* (a fixed SMTP
password or webhook URL is used at once). A subscription removed from the configuration
gets a channel that fails permanently and says why.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from alerts import deliveries, outbox
from alerts.channels import Channel, UnavailableChannel
from alerts.deliveries import DeliveryLine
from jobs.domain import Delivery, DeliveryStatus, Digest
from jobs.storage import repo
from jobs.storage.layout import base_subscription
from worker.clock import Clock
from worker.settings import ConfigError

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["FlushReport", "channels_of", "flush_outbox", "retry_deliveries"]

log = logging.getLogger(__name__)

_CHANNEL_NAMES = ("email", "slack", "slack_api", "webhook", "file")


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What one flush attempted: digests with due deliveries, and where those now stand."""

    digests: int
    sent: int
    pending: int
    failed: int
    overdue: int


def channels_of(runtime: Runtime, digest: Digest) -> dict[str, Channel]:
    """The channels of ``digest``'s subscription as configured now."""
    settings = runtime.settings
    name = base_subscription(digest.subscription)
    try:
        subscription = settings.subscription(name)
    except ConfigError:
        reason = f"subscription {name!r} is no longer configured"
        return {channel: UnavailableChannel(channel, reason=reason) for channel in _CHANNEL_NAMES}
    channels, _ = runtime.channels(subscription.name)
    return channels


def _attempt(runtime: Runtime, digest_id: int, *, now: Clock, force: bool) -> tuple[Delivery, ...]:
    settings = runtime.settings
    engine = runtime.engine
    digest = repo.load_digest(engine, digest_id)
    if digest is None:
        return ()
    return outbox.deliver(
        engine,
        digest=digest,
        targets=(),
        channels=channels_of(runtime, digest),
        now=now,
        max_attempts=settings.delivery.max_attempts,
        force=force,
    )


def flush_outbox(runtime: Runtime, *, now: Clock, force: bool = False, skip: Collection[int] = ()) -> FlushReport:
    """Report overdue deliveries, then attempt every due pending delivery of any digest
    but those in ``skip`` (digests the caller has just attempted)."""
    settings = runtime.settings
    engine = runtime.engine
    at = now()
    limit = timedelta(hours=settings.delivery.pending_alert_hours)
    overdue = deliveries.mark_overdue(engine, older_than=limit, now=at)
    for line in overdue:
        waited = (at - line.created_at).total_seconds() / 3600
        log.error(
            "delivery %s of digest %s (%s, %s) still pending after %.0f hours to %s (%s): %s",
            line.id,
            line.digest_id,
            line.subscription,
            line.data_date.isoformat(),
            waited,
            line.recipient,
            line.channel,
            line.error or "not attempted yet",
        )
    ids = tuple(i for i in deliveries.pending_digests(engine, now=at, force=force) if i not in skip)
    results: list[Delivery] = []
    for digest_id in ids:
        results += _attempt(runtime, digest_id, now=now, force=force)
    report = FlushReport(
        digests=len(ids),
        sent=sum(1 for d in results if d.status is DeliveryStatus.SENT and d.sent_at is not None and d.sent_at >= at),
        pending=sum(1 for d in results if d.status is DeliveryStatus.PENDING),
        failed=sum(1 for d in results if d.status is DeliveryStatus.FAILED),
        overdue=len(overdue),
    )
    if ids or overdue:
        log.info(
            "outbox flush: %d digest(s) with due deliveries: %d sent, %d pending, %d failed; %d overdue",
            report.digests,
            report.sent,
            report.pending,
            report.failed,
            report.overdue,
        )
    return report


def retry_deliveries(
    runtime: Runtime, *, ids: Sequence[int] = (), failed: bool = False, since: date | None = None, now: Clock
) -> tuple[tuple[DeliveryLine, Delivery], ...]:
    """Resend deliveries ``ids`` (or every failed one with ``failed``, of digests dated
    ``since`` or later) now; return each with its outcome. Raises AlertsError for an
    unknown id or one already sent."""
    engine = runtime.engine
    if failed:
        chosen = deliveries.list_deliveries(engine, statuses=(DeliveryStatus.FAILED,), since=since)
        ids = [line.id for line in chosen]
    if not ids:
        return ()
    lines = deliveries.requeue(engine, ids, now=now())
    outcomes: dict[int, Delivery] = {}
    for digest_id in dict.fromkeys(line.digest_id for line in lines):
        outcomes |= {d.id: d for d in _attempt(runtime, digest_id, now=now, force=True) if d.id is not None}
    return tuple((line, outcomes[line.id]) for line in lines if line.id in outcomes)
