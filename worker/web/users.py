"""Console users, their roles, and API tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults); the hash carries its own
parameters, so a later change of parameters still verifies old hashes and re-hashes on
the next sign-in. API tokens are random (``secrets.token_urlsafe``), shown once, and
stored as SHA-256: a copy of the database gives neither passwords nor tokens.

Roles are ordered: viewer < analyst < admin. Viewers read; analysts also label, mute,
tune and retry; admins also manage users and tokens.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jobs.errors import InputError
from jobs.storage.console import ApiTokenRow, WebSessionRow, WebUserRow

__all__ = [
    "Role",
    "User",
    "add_user",
    "create_token",
    "google_user",
    "hash_password",
    "list_tokens",
    "list_users",
    "remove_token",
    "remove_user",
    "token_hash",
    "user_for_token",
    "verify_login",
]

_USERS = cast(sa.Table, WebUserRow.__table__)  # type: ignore[attr-defined]
_SESSIONS = cast(sa.Table, WebSessionRow.__table__)  # type: ignore[attr-defined]
_TOKENS = cast(sa.Table, ApiTokenRow.__table__)  # type: ignore[attr-defined]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}$")
_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY = _HASHER.hash("barometer: no such user")
MIN_PASSWORD = 10


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    return _HASHER.hash(password)


def _check_name(name: str, what: str = "user name") -> str:
    if not _NAME.match(name):
        raise InputError(f"{what} {name!r}: letters, digits and _ . @ - only (1-200 characters)")
    return name


def add_user(engine: sa.Engine, name: str, *, role: Role, password: str, now: datetime) -> User:
    """Create user ``name``; raises InputError when the name is taken or the password too short."""
    _check_name(name)
    hashed = hash_password(password)
    with engine.begin() as conn:
        if conn.execute(sa.select(_USERS.c.id).where(_USERS.c.name == name)).first() is not None:
            raise InputError(f"user {name!r} already exists (remove it first, or pick another name)")
        user_id = conn.execute(
            sa.insert(_USERS)
            .values(name=name, role=role.value, password_hash=hashed, created_at=now)
            .returning(_USERS.c.id)
        ).scalar_one()
    return User(int(user_id), name, role, now)


#: The password hash of a user created by Google sign-in: no password verifies against it.
GOOGLE_ONLY = "!google"


def google_user(engine: sa.Engine, email: str, *, role: Role, now: datetime) -> tuple[User, bool]:
    """The user named ``email`` (Google sign-in), created with ``role`` and no password at
    their first sign-in; returns it and whether it was created. Raises InputError for an
    address the user-name rules do not allow."""
    _check_name(email, "Google address")
    with engine.begin() as conn:
        row = conn.execute(sa.select(_USERS).where(_USERS.c.name == email)).mappings().first()
        if row is not None:
            return _user(row), False
        user_id = conn.execute(
            sa.insert(_USERS)
            .values(name=email, role=role.value, password_hash=GOOGLE_ONLY, created_at=now)
            .returning(_USERS.c.id)
        ).scalar_one()
    return User(int(user_id), email, role, now), True


def list_users(engine: sa.Engine) -> tuple[User, ...]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_USERS).order_by(_USERS.c.name)).mappings().all()
    return tuple(_user(r) for r in rows)


def remove_user(engine: sa.Engine, name: str) -> User:
    """Delete user ``name`` and end its sessions; raises InputError when there is no such user."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(_USERS).where(_USERS.c.name == name)).mappings().first()
        if row is None:
            raise InputError(f"no user named {name!r} (see `barometer users list`)")
        conn.execute(sa.delete(_SESSIONS).where(_SESSIONS.c.user_id == row["id"]))
        conn.execute(sa.delete(_USERS).where(_USERS.c.id == row["id"]))
    return _user(row)


def verify_login(engine: sa.Engine, name: str, password: str) -> User | None:
    """The user ``name`` if ``password`` is theirs, else None (same work either way)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_USERS).where(_USERS.c.name == name)).mappings().first()
    stored = str(row["password_hash"]) if row is not None else _DUMMY
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        with engine.begin() as conn:
            conn.execute(sa.update(_USERS).where(_USERS.c.id == row["id"]).values(password_hash=_HASHER.hash(password)))
    return _user(row)


def user_by_id(engine: sa.Engine, user_id: int) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_USERS).where(_USERS.c.id == user_id)).mappings().first()
    return None if row is None else _user(row)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: sa.Engine, name: str, *, role: Role, now: datetime) -> str:
    """A new API token named ``name``; the token itself is returned once and never stored."""
    _check_name(name, "token name")
    token = "brm_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if conn.execute(sa.select(_TOKENS.c.id).where(_TOKENS.c.name == name)).first() is not None:
            raise InputError(f"token {name!r} already exists (remove it first, or pick another name)")
        conn.execute(
            sa.insert(_TOKENS).values(name=name, token_hash=token_hash(token), role=role.value, created_at=now)
        )
    return token


def list_tokens(engine: sa.Engine) -> tuple[tuple[str, Role, datetime], ...]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_TOKENS).order_by(_TOKENS.c.name)).mappings().all()
    return tuple((str(r["name"]), Role(r["role"]), r["created_at"]) for r in rows)


def remove_token(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        if conn.execute(sa.delete(_TOKENS).where(_TOKENS.c.name == name)).rowcount == 0:
            raise InputError(f"no token named {name!r} (see `barometer tokens list`)")


def user_for_token(engine: sa.Engine, token: str) -> User | None:
    """The pseudo-user a bearer token acts as (``token:NAME`` with the token's role), or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_TOKENS).where(_TOKENS.c.token_hash == token_hash(token))).mappings().first()
    if row is None:
        return None
    return User(-int(row["id"]), f"token:{row['name']}", Role(row["role"]), row["created_at"])


def _user(row: sa.RowMapping) -> User:
    return User(int(row["id"]), str(row["name"]), Role(row["role"]), row["created_at"])
