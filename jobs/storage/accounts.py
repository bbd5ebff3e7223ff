"""Google account authorisations: stored refresh tokens (already encrypted by the caller)
and whether Google still accepts them. Plain functions over a SQLAlchemy engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from jobs.storage.tables import GoogleAccountRow

__all__ = [
    "NEEDS_REAUTH",
    "OK",
    "StoredAccount",
    "load_account",
    "load_accounts",
    "mark_ok",
    "mark_rejected",
    "save_token",
]

_ACCOUNTS = GoogleAccountRow.__table__  # type: ignore[attr-defined]

OK = "ok"
NEEDS_REAUTH = "needs_reauth"


@dataclass(frozen=True, slots=True)
class StoredAccount:
    name: str
    kind: str
    refresh_token: str  # encrypted; "" for service accounts
    client_id: str
    scopes: tuple[str, ...]
    status: str
    detail: str
    authorised_at: datetime | None
    failed_at: datetime | None


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite drops the zone


def _from(row: sa.Row[tuple[object, ...]]) -> StoredAccount:
    m = row._mapping
    return StoredAccount(
        name=str(m["name"]),
        kind=str(m["kind"]),
        refresh_token=str(m["refresh_token"]),
        client_id=str(m["client_id"]),
        scopes=tuple(str(m["scopes"]).split()),
        status=str(m["status"]),
        detail=str(m["detail"]),
        authorised_at=_aware(m["authorised_at"]),
        failed_at=_aware(m["failed_at"]),
    )


def load_account(engine: sa.Engine, name: str) -> StoredAccount | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_ACCOUNTS).where(_ACCOUNTS.c.name == name)).first()
    return None if row is None else _from(row)


def load_accounts(engine: sa.Engine) -> dict[str, StoredAccount]:
    with engine.connect() as conn:
        return {a.name: a for a in map(_from, conn.execute(sa.select(_ACCOUNTS)).all())}


def save_token(
    engine: sa.Engine, name: str, *, refresh_token: str, client_id: str, scopes: tuple[str, ...], now: datetime
) -> None:
    """Store (or replace) an OAuth account's encrypted refresh token and mark it ok."""
    values = {
        "kind": "oauth",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "scopes": " ".join(scopes),
        "status": OK,
        "detail": "",
        "authorised_at": now,
        "failed_at": None,
        "updated_at": now,
    }
    with engine.begin() as conn:
        updated = conn.execute(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.name == name).values(**values)).rowcount
        if not updated:
            conn.execute(sa.insert(_ACCOUNTS).values(name=name, **values))


def mark_rejected(engine: sa.Engine, name: str, *, kind: str, detail: str, now: datetime) -> bool:
    """Record that Google rejected ``name``'s credentials. True only on the transition
    from ok (or unknown) to rejected, so the caller reports it once."""
    with engine.begin() as conn:
        status = conn.execute(sa.select(_ACCOUNTS.c.status).where(_ACCOUNTS.c.name == name).with_for_update()).scalar()
        if status == NEEDS_REAUTH:
            return False
        values = {"status": NEEDS_REAUTH, "detail": detail[:1000], "failed_at": now, "updated_at": now}
        if status is None:
            conn.execute(sa.insert(_ACCOUNTS).values(name=name, kind=kind, client_id="", **values))
        else:
            conn.execute(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.name == name).values(**values))
    return True


def mark_ok(engine: sa.Engine, name: str, *, now: datetime) -> bool:
    """A service account works again (its key file was fixed). OAuth accounts become ok
    only by re-authorising. True when the status changed."""
    with engine.begin() as conn:
        changed = conn.execute(
            sa.update(_ACCOUNTS)
            .where(_ACCOUNTS.c.name == name, _ACCOUNTS.c.kind == "service_account", _ACCOUNTS.c.status != OK)
            .values(status=OK, detail="", updated_at=now)
        ).rowcount
    return bool(changed)
