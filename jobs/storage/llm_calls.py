"""The audit trail of language-model calls (table ``llm_call``).

Calls are written as they happen, before the digest they serve exists; once the digest
is saved, :func:`link_to_digest` points them at it. :class:`SqlCallLog` is the
:class:`~jobs.ports.CallLog` the summariser writes through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from jobs.domain import LLMCall, LLMOutcome
from jobs.storage.tables import LLMCallRow

__all__ = ["SqlCallLog", "link_to_digest", "recent_calls", "record_call", "spent_since"]

_CALLS = LLMCallRow.__table__  # type: ignore[attr-defined]


def record_call(engine: sa.Engine, call: LLMCall) -> int:
    """Store one call; return its id."""
    values = {
        "digest_id": call.digest_id,
        "provider": call.provider[:50],
        "model": call.model[:200],
        "prompt_version": call.prompt_version[:50],
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "cost_usd": call.cost_usd,
        "latency_ms": call.latency_ms,
        "outcome": call.outcome.value,
        "detail": call.detail,
        "created_at": call.created_at,
    }
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(_CALLS).values(**values).returning(_CALLS.c.id)).scalar_one())


def link_to_digest(engine: sa.Engine, call_ids: Sequence[int], digest_id: int) -> None:
    """Point the calls made for a digest at it (they were stored before it existed)."""
    if not call_ids:
        return
    with engine.begin() as conn:
        conn.execute(sa.update(_CALLS).where(_CALLS.c.id.in_(list(call_ids))).values(digest_id=digest_id))


def spent_since(engine: sa.Engine, start: datetime) -> float:
    """USD recorded for calls made at or after ``start``."""
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(_CALLS.c.cost_usd)).where(_CALLS.c.created_at >= start)).scalar()
    return float(total or 0.0)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite drops the zone


def recent_calls(engine: sa.Engine, *, limit: int = 20) -> tuple[LLMCall, ...]:
    """The newest ``limit`` calls, newest first."""
    query = sa.select(_CALLS).order_by(_CALLS.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return tuple(
        LLMCall(
            provider=r.provider,
            model=r.model,
            prompt_version=r.prompt_version,
            outcome=LLMOutcome(r.outcome),
            created_at=_aware(r.created_at),
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost_usd=float(r.cost_usd),
            latency_ms=r.latency_ms,
            detail=r.detail,
            digest_id=r.digest_id,
            id=r.id,
        )
        for r in rows
    )


class SqlCallLog:
    """A :class:`~jobs.ports.CallLog` on barometer's database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def record(self, call: LLMCall) -> int:
        return record_call(self._engine, call)

    def spent_since(self, start: datetime) -> float:
        return spent_since(self._engine, start)
