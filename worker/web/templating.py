"""The console's Jinja2 templates: autoescaped, with filters that make names safe to read.

Every name that comes from data (series, pages, queries, subscriptions, recipients) is
shown through ``|name``: bidirectional controls become visible ``[U+202E]`` marks, and
autoescaping turns markup into text.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from jobs.naming import metric_label, neutralise_bidi, series_label
from worker.web.security import current_session, flash_of

__all__ = ["render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
env = templates.env
env.trim_blocks = True
env.lstrip_blocks = True
env.filters["name"] = lambda text: neutralise_bidi(str(text))
env.filters["series"] = lambda text: neutralise_bidi(series_label(str(text)))
env.filters["metric"] = lambda text: neutralise_bidi(metric_label(str(text)))


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


env.filters["number"] = _number
env.filters["when"] = _when
env.filters["pct"] = lambda value: "–" if value is None else f"{value:+.0%}"


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Template ``name`` with the signed-in user and the CSRF token every form needs."""
    session = current_session(request)
    context.setdefault("user", None if session is None else session.user)
    context.setdefault("csrf", "" if session is None else session.csrf)
    context.setdefault("path", request.url.path)
    if not context.get("flash"):
        context["flash"], context["flash_kind"] = flash_of(request)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
