"""Console sessions, CSRF tokens and the sign-in throttle.

The protocol:

1. ``GET /login`` sets a random ``barometer_login`` cookie and puts the same value in the
   form (double-submit): a ``POST /login`` whose field and cookie differ is refused (403),
   so no other site can sign a browser in to an account of its choosing.
2. A good password creates a session: a random 256-bit token goes to the browser as the
   ``barometer_session`` cookie (HttpOnly, SameSite=Lax, Secure when ``[web] public_url``
   is https); the database keeps only its SHA-256, the user and a per-session CSRF token.
3. Every request looks the session up; an unknown or expired one is no session (pages
   redirect to ``/login``, ``/api`` answers 401). Sessions last :data:`SESSION_TTL`.
4. Every POST carries the session's CSRF token (form field ``csrf_token`` or header
   ``X-CSRF-Token``, which htmx sends); a missing or wrong one is refused (403).
5. ``/logout`` deletes the row, so the cookie is worthless even if it was copied.

Failed sign-ins are counted per user name and per client address: after
:data:`MAX_FAILURES` within :data:`FAILURE_WINDOW` further attempts are refused (429)
until the window has passed, whatever the password.
"""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa

from jobs.storage.console import WebSessionRow
from worker.web.users import User, token_hash, user_by_id

__all__ = ["FAILURE_WINDOW", "MAX_FAILURES", "SESSION_TTL", "LoginThrottle", "Session", "end", "lookup", "start"]

SESSION_TTL = timedelta(hours=12)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
_T = cast(sa.Table, WebSessionRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str


def start(engine: sa.Engine, user: User, *, now: datetime) -> tuple[str, Session]:
    """A new session for ``user``: the cookie's token (given once) and the session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(sa.delete(_T).where(_T.c.expires_at < now))  # tidy: expired sessions of anyone
        conn.execute(
            sa.insert(_T).values(
                token_hash=token_hash(token), user_id=user.id, csrf=csrf, created_at=now, expires_at=now + SESSION_TTL
            )
        )
    return token, Session(user, csrf)


def lookup(engine: sa.Engine, token: str, *, now: datetime) -> Session | None:
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.token_hash == token_hash(token))).mappings().first()
    if row is None or _utc(row["expires_at"]) <= now:
        return None
    user = user_by_id(engine, int(row["user_id"]))
    return None if user is None else Session(user, str(row["csrf"]))


def end(engine: sa.Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(_T).where(_T.c.token_hash == token_hash(token)))


class LoginThrottle:
    """Failed sign-ins per user name and per client address, within a sliding window."""

    def __init__(self, *, now: Callable[[], datetime]) -> None:
        self._now = now
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, name: str, client: str) -> tuple[str, str]:
        return f"user:{name.lower()}", f"addr:{client}"

    def blocked(self, name: str, client: str) -> bool:
        now = self._now()
        with self._lock:
            for key in self._keys(name, client):
                seen = self._failures[key]
                while seen and now - seen[0] >= FAILURE_WINDOW:
                    seen.popleft()
                if len(seen) >= MAX_FAILURES:
                    return True
        return False

    def failed(self, name: str, client: str) -> None:
        now = self._now()
        with self._lock:
            for key in self._keys(name, client):
                self._failures[key].append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
