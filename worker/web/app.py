"""The console's ASGI application: one factory, every router included here.

Routers live in their own modules of this package and are included by :func:`create_app`.
The settings and the clock are fixed when the app is built and reach handlers through
``request.app.state`` (``settings``, ``now``), so tests run the real app on a fake clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.service import Clock, utcnow
from worker.settings import Settings
from worker.web import api, feedback, google_login, pages_admin, pages_auth, pages_findings, pages_ops, pages_tuning
from worker.web.security import NotSignedIn, SecurityHeaders, csrf_protect, login_redirect, runtime_of
from worker.web.sessions import LoginThrottle
from worker.web.templating import render

__all__ = ["create_app"]


def create_app(settings: Settings, *, now: Clock = utcnow) -> FastAPI:
    """The console for ``settings``; ``now`` is the clock every handler uses."""
    app = FastAPI(title="barometer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.now = now
    app.state.throttle = LoginThrottle(now=now)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")
    app.include_router(pages_auth.router)
    app.include_router(google_login.router)
    app.include_router(feedback.router)  # links in messages: signed tokens instead of a session
    guarded = [Depends(csrf_protect)]
    for module in (pages_findings, pages_ops, pages_tuning, pages_admin, api):
        app.include_router(module.router, dependencies=guarded)

    @app.exception_handler(NotSignedIn)
    def _not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign in or send Authorization: Bearer TOKEN"}, status_code=401)
        return RedirectResponse(login_redirect(request), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "There is no such page."
        return render(request, "error.html", status_code=exc.status_code, status=exc.status_code, message=message)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        """Liveness and database reachability, for the compose health check and load balancers."""
        body: dict[str, Any] = {"status": "ok"}
        try:
            with runtime_of(request).engine.connect() as conn:  # built here if the database was away
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # the reason is for ops; the status code is the contract
            body = {"status": "unavailable", "database": type(exc).__name__}
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    return app
