"""The delivery outbox: every digest reaches every target once, across retries and restarts.

A ``delivery`` row exists once per digest x channel x recipient (unique constraint). The
protocol, each step in its own transaction:

1. insert the missing rows as ``pending`` (insert-if-absent, safe under concurrency);
2. for each pending row that is due (``next_attempt_at``, the backoff, has passed; or a
   person asked for it now: ``force``) and not leased, *claim* it with a conditional
   UPDATE that sets ``lease_until`` a lease into the future; only the worker whose UPDATE
   matched (rowcount 1) sends, so two workers never send the same row at once;
3. send; only after the channel returned, mark the row ``sent``. A row whose lease ran
   out was claimed by a sender that died: if its channel can tell whether the message
   already arrived (:class:`~alerts.channels.Confirming`: Slack's Web API finds the
   digest id in the channel's history), a message found there is marked sent, not resent;
4. on a transient failure count the attempt, record the error and back off
   (1, 2, 4, ... minutes) until ``max_attempts``, then ``failed``; a permanent failure is
   ``failed`` at once. A row that ends ``failed`` is logged at ERROR (so Sentry reports
   it) and named in the subscription's next digest (:func:`alerts.history.failed_deliveries`).

A row marked sent is never sent again. The one window left is a crash between the send
and the mark: the lease expires and the row is sent again (at-least-once there, which is
the best any outbox over SMTP or a webhook can do: the copy carries the same Message-ID
or Idempotency-Key, so the receiver can drop it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerts.channels import Channel, Confirming
from alerts.errors import AlertsError, DeliveryError
from jobs.domain import Delivery, DeliveryStatus, Digest
from jobs.storage.tables import DeliveryRow

__all__ = ["LEASE", "Target", "backoff", "deliver"]

log = logging.getLogger(__name__)

_T = cast(sa.Table, DeliveryRow.__table__)  # type: ignore[attr-defined]  # set by SQLModel at class creation
#: How long a claimed row is reserved for the worker sending it.
LEASE = timedelta(minutes=10)
_MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a digest should go: a channel name ("email", "slack", "file") and a recipient."""

    channel: str
    recipient: str


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 1, 2, 4, ... minutes (capped at 6 h)."""
    return min(timedelta(minutes=2 ** max(0, attempts - 1)), _MAX_BACKOFF)


def deliver(
    engine: sa.Engine,
    *,
    digest: Digest,
    targets: Sequence[Target],
    channels: Mapping[str, Channel],
    now: Callable[[], datetime],
    max_attempts: int = 5,
    force: bool = False,
) -> tuple[Delivery, ...]:
    """Send ``digest`` to every target that has not had it yet; return all its deliveries.

    Safe to call again (and concurrently): a target is sent at most once per success.
    One target's failure is recorded on its row and never stops the others. ``now``
    returns an aware datetime (a naive one is taken as UTC). ``force`` (a run started by
    a person) attempts rows still waiting out their backoff; a live lease is always kept.
    """
    if digest.id is None:
        raise AlertsError("deliver: the digest has no id; store it (DigestRow) before delivering")
    if max_attempts < 1:
        raise ValueError(f"deliver: max_attempts must be >= 1, got {max_attempts}")
    _insert_missing(engine, digest_id=digest.id, targets=targets, at=_utc(now()))
    with engine.connect() as conn:
        pending = conn.execute(
            sa.select(_T.c.id, _T.c.channel, _T.c.recipient)
            .where(_T.c.digest_id == digest.id, _T.c.status == DeliveryStatus.PENDING.value)
            .order_by(_T.c.id)
        ).all()
    for row_id, channel_name, recipient in pending:
        _attempt(
            engine,
            row_id=row_id,
            channel_name=channel_name,
            recipient=recipient,
            digest=digest,
            channel=channels.get(channel_name),
            now=now,
            max_attempts=max_attempts,
            force=force,
        )
    return deliveries(engine, digest_id=digest.id)


def deliveries(engine: sa.Engine, *, digest_id: int) -> tuple[Delivery, ...]:
    """Every delivery row of ``digest_id`` as domain values, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_T).where(_T.c.digest_id == digest_id).order_by(_T.c.id)).mappings().all()
    return tuple(
        Delivery(
            digest_id=r["digest_id"],
            channel=r["channel"],
            recipient=r["recipient"],
            status=DeliveryStatus(r["status"]),
            attempts=r["attempts"],
            error=r["error"],
            sent_at=None if r["sent_at"] is None else _utc(r["sent_at"]),
            id=r["id"],
        )
        for r in rows
    )


def _insert_missing(engine: sa.Engine, *, digest_id: int, targets: Sequence[Target], at: datetime) -> None:
    unique = list(dict.fromkeys(targets))
    if not unique:
        return
    values = [
        {
            "digest_id": digest_id,
            "channel": t.channel,
            "recipient": t.recipient,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "error": "",
            "created_at": at,
        }
        for t in unique
    ]
    keys = ["digest_id", "channel", "recipient"]
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite.insert(_T) if dialect == "sqlite" else postgresql.insert(_T)
            conn.execute(insert.on_conflict_do_nothing(index_elements=keys), values)
            return
        for value in values:  # other databases: one savepoint per row, a duplicate is fine
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(_T), value)
            except sa.exc.IntegrityError:
                pass


def _attempt(
    engine: sa.Engine,
    *,
    row_id: int,
    channel_name: str,
    recipient: str,
    digest: Digest,
    channel: Channel | None,
    now: Callable[[], datetime],
    max_attempts: int,
    force: bool = False,
) -> None:
    started = _utc(now())
    claimed, orphaned_since = _claim(engine, row_id=row_id, at=started, force=force)
    if not claimed:
        return  # sent, failed, backing off, or claimed by another worker
    try:
        if channel is None:
            raise DeliveryError(f"no channel named {channel_name!r} is configured", transient=True)
        if orphaned_since is not None and _arrived(channel, digest, recipient, since=orphaned_since - LEASE):
            _mark_sent(engine, row_id=row_id, at=_utc(now()), attempts=0)
            log.warning(
                "delivery %s of digest %s to %s %s: found in the channel after its sender died; not resent",
                row_id,
                digest.id,
                channel_name,
                recipient,
            )
            return
        channel.send(digest, recipient=recipient)
    except DeliveryError as exc:
        final = _fail(
            engine, row_id=row_id, error=str(exc), transient=exc.transient, at=_utc(now()), max_attempts=max_attempts
        )
        _report(row_id, digest, channel_name, recipient, str(exc), transient=exc.transient, final=final)
        return
    except Exception as exc:  # a bug in one channel must not sink the other recipients
        error = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        final = _fail(engine, row_id=row_id, error=error, transient=True, at=_utc(now()), max_attempts=max_attempts)
        log.exception("delivery %s of digest %s to %s %s crashed", row_id, digest.id, channel_name, recipient)
        if final:
            _report(row_id, digest, channel_name, recipient, error, transient=True, final=final)
        return
    _mark_sent(engine, row_id=row_id, at=_utc(now()), attempts=1)
    log.info("delivered digest %s to %s %s", digest.id, channel_name, recipient)


def _arrived(channel: Channel, digest: Digest, recipient: str, *, since: datetime) -> bool:
    """Whether a channel that can look (:class:`Confirming`) finds ``digest`` already there."""
    return isinstance(channel, Confirming) and channel.was_delivered(digest, recipient=recipient, since=since)


def _mark_sent(engine: sa.Engine, *, row_id: int, at: datetime, attempts: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(_T)
            .where(_T.c.id == row_id)
            .values(
                status=DeliveryStatus.SENT.value,
                attempts=_T.c.attempts + attempts,
                error="",
                sent_at=at,
                next_attempt_at=None,
                lease_until=None,
            )
        )


def _report(
    row_id: int, digest: Digest, channel: str, recipient: str, error: str, *, transient: bool, final: bool
) -> None:
    """A failure that ends a delivery is an ERROR (Sentry reports it); one that will be retried a WARNING."""
    if final:
        why = "gave up after repeated transient failures" if transient else "failed permanently"
        log.error(
            "delivery %s of digest %s (%s, %s) to %s %s %s: %s",
            row_id,
            digest.id,
            digest.subscription,
            digest.data_date.isoformat(),
            channel,
            recipient,
            why,
            error,
        )
    else:
        log.warning(
            "delivery %s of digest %s to %s %s failed, will retry: %s", row_id, digest.id, channel, recipient, error
        )


def _claim(engine: sa.Engine, *, row_id: int, at: datetime, force: bool) -> tuple[bool, datetime | None]:
    """Reserve a pending, unleased row that is due (or ``force``) for ``LEASE``.

    Returns (claimed, when the previous claim's lease ran out, or None if there was none):
    True only for the one worker that got it.
    """
    free = sa.or_(_T.c.lease_until.is_(None), _T.c.lease_until <= at)
    conditions = [_T.c.id == row_id, _T.c.status == DeliveryStatus.PENDING.value, free]
    if not force:
        conditions.append(sa.or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= at))
    with engine.begin() as conn:
        previous = conn.execute(sa.select(_T.c.lease_until).where(_T.c.id == row_id)).scalar()
        result = conn.execute(sa.update(_T).where(*conditions).values(lease_until=at + LEASE))
        claimed = result.rowcount == 1
    return claimed, None if previous is None or not claimed else _utc(previous)


def _fail(engine: sa.Engine, *, row_id: int, error: str, transient: bool, at: datetime, max_attempts: int) -> bool:
    """Record a failed attempt; True when the row is now ``failed`` for good."""
    with engine.begin() as conn:
        attempts = conn.execute(sa.select(_T.c.attempts).where(_T.c.id == row_id)).scalar_one() + 1
        final = not transient or attempts >= max_attempts
        values: dict[str, Any] = {
            "attempts": attempts,
            "error": " ".join(error.split())[:500],
            "status": DeliveryStatus.FAILED.value if final else DeliveryStatus.PENDING.value,
            "next_attempt_at": None if final else at + backoff(attempts),
            "lease_until": None,
        }
        conn.execute(sa.update(_T).where(_T.c.id == row_id).values(**values))
    return final


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
