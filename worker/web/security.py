"""Who is asking, and may they: sessions, roles, CSRF and the response headers.

Handlers declare what they need with the dependencies here (``Viewer``, ``Analyst``,
``Admin``); the app's exception handlers turn a missing session into a redirect to
``/login`` (pages) or 401 (``/api``). Every router this package includes carries
:func:`csrf_protect`, so every POST is checked (see :mod:`worker.web.sessions`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

from worker.runtime import Runtime
from worker.runtime import build as build_runtime
from worker.web import sessions
from worker.web.users import Role, User, user_for_token

__all__ = [
    "CSP",
    "SESSION_COOKIE",
    "Admin",
    "Analyst",
    "NotSignedIn",
    "SecurityHeaders",
    "Viewer",
    "csrf_protect",
    "current_session",
    "engine_of",
]

SESSION_COOKIE = "barometer_session"
LOGIN_COOKIE = "barometer_login"
#: No inline script or style anywhere: htmx is a static file and is configured not to add styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class NotSignedIn(Exception):
    """No valid session (or API token) came with the request."""


_runtime_lock = threading.Lock()


def runtime_of(request: Request) -> Runtime:
    """The app's :class:`~worker.runtime.Runtime`, built on the first request that needs it
    (so ``/healthz`` can still answer 503 while the database is away)."""
    state = request.app.state
    with _runtime_lock:
        if getattr(state, "runtime", None) is None:
            state.runtime = build_runtime(state.settings, clock=state.now)
        runtime: Runtime = state.runtime
    return runtime


def engine_of(request: Request) -> sa.Engine:
    return runtime_of(request).engine


def current_session(request: Request) -> sessions.Session | None:
    """The request's session (cached on the request), a bearer token's pseudo-session, or None."""
    if hasattr(request.state, "session"):
        cached: sessions.Session | None = request.state.session
        return cached
    found = sessions.lookup(engine_of(request), request.cookies.get(SESSION_COOKIE, ""), now=request.app.state.now())
    auth = request.headers.get("authorization", "")
    if found is None and request.url.path.startswith("/api/") and auth.lower().startswith("bearer "):
        user = user_for_token(engine_of(request), auth[7:].strip())
        found = None if user is None else sessions.Session(user, csrf="")
    request.state.session = found
    return found


def _signed_in(request: Request) -> User:
    session = current_session(request)
    if session is None:
        raise NotSignedIn
    return session.user


def _role(needed: Role) -> Callable[[Request], User]:
    def check(request: Request) -> User:
        user = _signed_in(request)
        if not user.role.allows(needed):
            raise HTTPException(403, f"{user.role.value}s cannot do this; it needs the {needed.value} role")
        return user

    return check


Viewer = Annotated[User, Depends(_signed_in)]
Analyst = Annotated[User, Depends(_role(Role.ANALYST))]
Admin = Annotated[User, Depends(_role(Role.ADMIN))]


async def csrf_protect(request: Request) -> None:
    """Refuse a POST whose CSRF token is missing or is not the session's (403)."""
    if request.method != "POST":
        return
    session = current_session(request)
    if session is None:
        raise NotSignedIn
    if not session.csrf:  # a bearer token: no cookie, so no cross-site request can carry it
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token", ""))
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise HTTPException(403, "the form's security token is missing or out of date: reload the page and try again")


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login" if target == "/" else f"/login?next={quote(target, safe='')}"


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP and friends on every response (a handler may set a stricter CSP of its own)."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # pages carry personal data and CSRF tokens: never cached; the static files are
        response.headers.setdefault(
            "Cache-Control", "public, max-age=3600" if request.url.path.startswith("/static/") else "no-store"
        )
        return response


#: Signs the one-line messages a redirect carries (a link someone else made cannot put words on a page).
_FLASH_KEY = secrets.token_bytes(32)


def flash_url(path: str, text: str, *, error: bool = False) -> str:
    """``path`` with ``text`` as a signed message to show once the browser lands there."""
    text = " ".join(text.split())[:300]
    kind = "error" if error else "ok"
    sig = hmac.new(_FLASH_KEY, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()[:32]
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}{urlencode({'flash': text, 'kind': kind, 'sig': sig})}"


def flash_of(request: Request) -> tuple[str, str]:
    """The signed message of the request's URL and its kind (``ok``/``error``), or ``("", "")``."""
    text, kind, sig = (request.query_params.get(k, "") for k in ("flash", "kind", "sig"))
    if not text or kind not in ("ok", "error"):
        return "", ""
    good = hmac.new(_FLASH_KEY, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()[:32]
    return (text, kind) if hmac.compare_digest(good, sig) else ("", "")
