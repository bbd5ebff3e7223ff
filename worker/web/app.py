"""The console's ASGI application: one factory, every router included here.

Routers live in their own modules of this package and are included by :func:`create_app`.
The settings and the clock are fixed when the app is built and reach handlers through
``request.app.state`` (``settings``, ``now``), so tests run the real app on a fake clock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from worker import bootstrap
from worker.service import Clock, utcnow
from worker.settings import Settings
from worker.web import feedback

__all__ = ["create_app"]


def create_app(settings: Settings, *, now: Clock = utcnow) -> FastAPI:
    """The console for ``settings``; ``now`` is the clock every handler uses."""
    app = FastAPI(title="barometer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.now = now
    app.include_router(feedback.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        """Liveness and database reachability, for the compose health check and load balancers."""
        body: dict[str, Any] = {"status": "ok"}
        try:
            with bootstrap.engine(request.app.state.settings).connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # the reason is for ops; the status code is the contract
            body = {"status": "unavailable", "database": type(exc).__name__}
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    return app
