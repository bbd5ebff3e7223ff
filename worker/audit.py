"""The audit log: every change made through the console or the user commands.

One row per change: who (a console user, ``token:NAME`` or ``cli:NAME``), the action
(``label``, ``mute``, ``unmute``, ``tuning``, ``retry``, ``user_add``, ``user_remove``,
``token_create``, ``token_remove``), what it touched and a short detail. Rows are only
ever added; ``/audit`` lists them newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa

from jobs.storage.console import AuditRow

__all__ = ["AuditEntry", "cli_actor", "recent", "record"]

_T = cast(sa.Table, AuditRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    target: str
    detail: str
    created_at: datetime


def cli_actor() -> str:
    """``cli:NAME`` for a change made with the command line (the operating-system user)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record(
    engine: sa.Engine | sa.Connection, *, actor: str, action: str, target: str, detail: str = "", now: datetime
) -> None:
    values = {"actor": actor, "action": action, "target": target, "detail": detail[:2000], "created_at": now}
    if isinstance(engine, sa.Connection):
        engine.execute(sa.insert(_T).values(**values))
        return
    with engine.begin() as conn:
        conn.execute(sa.insert(_T).values(**values))


def recent(engine: sa.Engine, *, limit: int = 200, offset: int = 0) -> tuple[AuditEntry, ...]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_T).order_by(_T.c.id.desc()).limit(limit).offset(offset)).mappings().all()
    return tuple(
        AuditEntry(
            int(r["id"]),
            str(r["actor"]),
            str(r["action"]),
            str(r["target"]),
            str(r["detail"]),
            _utc(r["created_at"]),
        )
        for r in rows
    )


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
