"""The outbox seen from outside one digest: what is still pending anywhere, what has
waited too long, what a person lists and resends.

* :func:`pending_digests` names every digest with a pending delivery (due ones only,
  unless ``force``): ``barometer.flush_outbox`` and every run retry them, so a
  delivery of an older digest is never orphaned.
* :func:`mark_overdue` stamps ``overdue_at`` on rows pending longer than a limit and
  returns them once (the caller logs each at ERROR; the next digest names them through
  :func:`alerts.history.failed_deliveries`). They stay pending and are still retried.
* :func:`requeue` puts failed (or pending) rows back as due now with a fresh attempt
  budget, counting the resend (``requeues``, ``requeued_at``): a resend is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

import sqlalchemy as sa

from alerts.errors import AlertsError
from jobs.domain import DeliveryStatus
from jobs.storage.tables import DeliveryRow, DigestRow

__all__ = ["DeliveryLine", "list_deliveries", "mark_overdue", "pending_digests", "requeue"]

_T = cast(sa.Table, DeliveryRow.__table__)  # type: ignore[attr-defined]
_D = cast(sa.Table, DigestRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """One delivery with what a person needs to recognise it."""

    id: int
    digest_id: int
    subscription: str
    data_date: date
    channel: str
    recipient: str
    status: DeliveryStatus
    attempts: int
    error: str
    created_at: datetime
    sent_at: datetime | None
    requeues: int


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def pending_digests(engine: sa.Engine, *, now: datetime, force: bool = False) -> tuple[int, ...]:
    """Ids of digests with a pending delivery that may be attempted at ``now`` (due and
    not leased; ``force``: backoff ignored), oldest first."""
    conditions = [
        _T.c.status == DeliveryStatus.PENDING.value,
        sa.or_(_T.c.lease_until.is_(None), _T.c.lease_until <= now),
    ]
    if not force:
        conditions.append(sa.or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= now))
    query = sa.select(_T.c.digest_id).where(*conditions).group_by(_T.c.digest_id).order_by(_T.c.digest_id)
    with engine.connect() as conn:
        return tuple(int(i) for i in conn.execute(query).scalars())


def mark_overdue(engine: sa.Engine, *, older_than: timedelta, now: datetime) -> tuple[DeliveryLine, ...]:
    """Stamp and return the pending rows waiting since before ``now - older_than`` (created,
    or requeued by a person) and not stamped yet."""
    limit = now - older_than
    waiting_since = sa.func.coalesce(_T.c.requeued_at, _T.c.created_at)  # a resend starts the wait afresh
    stale = sa.and_(_T.c.status == DeliveryStatus.PENDING.value, _T.c.overdue_at.is_(None), waiting_since <= limit)
    with engine.begin() as conn:
        ids = [int(i) for i in conn.execute(sa.select(_T.c.id).where(stale)).scalars()]
        if not ids:
            return ()
        # Conditional on still being unstamped: two flushers never both report one row.
        stamped = [
            i for i in ids if conn.execute(sa.update(_T).where(_T.c.id == i, stale).values(overdue_at=now)).rowcount
        ]
    return _lines(engine, _T.c.id.in_(stamped))


def list_deliveries(
    engine: sa.Engine,
    *,
    statuses: Sequence[DeliveryStatus],
    subscription: str | None = None,
    since: date | None = None,
    ids: Sequence[int] = (),
) -> tuple[DeliveryLine, ...]:
    """Deliveries in ``statuses`` (of ``subscription``'s digests and alerts; of digests dated
    ``since`` or later; or exactly ``ids``), oldest first."""
    conditions: list[sa.ColumnElement[bool]] = [_T.c.status.in_([s.value for s in statuses])]
    if subscription is not None:
        conditions.append(sa.or_(_D.c.subscription == subscription, _D.c.subscription.like(f"{subscription}/%")))
    if since is not None:
        conditions.append(_D.c.data_date >= since)
    if ids:
        conditions.append(_T.c.id.in_(list(ids)))
    return _lines(engine, *conditions)


def _lines(engine: sa.Engine, *where: sa.ColumnElement[bool]) -> tuple[DeliveryLine, ...]:
    query = (
        sa.select(_T, _D.c.subscription, _D.c.data_date)
        .select_from(_T.join(_D, _D.c.id == _T.c.digest_id))
        .where(*where)
        .order_by(_T.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return tuple(
        DeliveryLine(
            id=int(r["id"]),
            digest_id=int(r["digest_id"]),
            subscription=str(r["subscription"]),
            data_date=r["data_date"],
            channel=str(r["channel"]),
            recipient=str(r["recipient"]),
            status=DeliveryStatus(r["status"]),
            attempts=int(r["attempts"]),
            error=str(r["error"]),
            created_at=_utc(r["created_at"]),
            sent_at=None if r["sent_at"] is None else _utc(r["sent_at"]),
            requeues=int(r["requeues"]),
        )
        for r in rows
    )


def requeue(engine: sa.Engine, ids: Sequence[int], *, now: datetime) -> tuple[DeliveryLine, ...]:
    """Make failed or pending rows ``ids`` due now with a fresh attempt budget; a row already
    sent is refused (AlertsError naming it), an unknown id too. Returns the requeued rows."""
    found = {line.id: line for line in list_deliveries(engine, statuses=tuple(DeliveryStatus), ids=ids)}
    for row_id in ids:
        line = found.get(row_id)
        if line is None:
            raise AlertsError(f"no delivery with id {row_id} (see `barometer deliveries list`)")
        if line.status is DeliveryStatus.SENT:
            raise AlertsError(f"delivery {row_id} was already sent; nothing to resend")
    with engine.begin() as conn:
        conn.execute(
            sa.update(_T)
            .where(_T.c.id.in_(list(ids)), _T.c.status != DeliveryStatus.SENT.value)
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=None,
                overdue_at=None,
                requeues=_T.c.requeues + 1,
                requeued_at=now,
            )
        )
    return tuple(found[i] for i in ids)
