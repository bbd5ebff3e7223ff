"""``/login`` and ``/logout`` (the protocol is in :mod:`worker.web.sessions`)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from worker.web import sessions
from worker.web.security import LOGIN_COOKIE, SESSION_COOKIE, csrf_protect, current_session, engine_of
from worker.web.templating import render
from worker.web.users import User, verify_login

__all__ = ["login_form_page", "router", "safe_next", "secure", "signed_in"]

router = APIRouter()


def safe_next(target: str) -> str:
    """Only a path of this site: ``//evil.example`` or ``https://...`` would send the user away."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def secure(request: Request) -> bool:
    return str(request.app.state.settings.web.public_url).startswith("https://")


def login_form_page(request: Request, *, error: str = "", username: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status,
        login_token=token,
        next=safe_next(request.query_params.get("next", "/")),
        error=error,
        username=username,
        google_domain=request.app.state.settings.web.google_domain,
    )
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=secure(request), path="/login")
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next", "/")), status_code=303)
    return login_form_page(request)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_token: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), login_token.encode()):
        return login_form_page(
            request, error="The sign-in form expired; please try again.", username=username, status=403
        )
    throttle: sessions.LoginThrottle = request.app.state.throttle
    client = request.client.host if request.client else "unknown"
    if throttle.blocked(username, client):
        return login_form_page(
            request, error="Too many failed sign-ins; wait 15 minutes and try again.", username=username, status=429
        )
    engine = engine_of(request)
    user = verify_login(engine, username, password)
    if user is None:
        throttle.failed(username, client)
        return login_form_page(request, error="Wrong user name or password.", username=username, status=401)
    throttle.succeeded(username)
    response = signed_in(request, user, next_)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def signed_in(request: Request, user: User, target: str) -> Response:
    """A new session for ``user`` (its cookie set) and the way on to ``target`` on this site."""
    token, _ = sessions.start(engine_of(request), user, now=request.app.state.now())
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    return response


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request) -> Response:
    """End the session (the CSRF check ran first: no other site can sign a user out)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        sessions.end(engine_of(request), token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/logout")
def logout_page(request: Request) -> Response:
    """A GET never changes state: it shows the sign-out button (or the sign-in form)."""
    if current_session(request) is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "logout.html")
