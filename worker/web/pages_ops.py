"""``/deliveries`` (with retry), ``/digests``, ``/mutes``, ``/llm`` and ``/audit``.

Retry is :func:`worker.delivery.retry_deliveries`, the use case behind ``barometer
deliveries retry``; mutes are :mod:`alerts.mutes`, the storage behind ``barometer mute``.
Every change is written to the audit log with the signed-in user.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, timedelta
from email.message import EmailMessage
from typing import Annotated, cast

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.deliveries import list_deliveries
from alerts.errors import AlertsError
from alerts.mutes import add_mute, list_mutes, remove_mute
from alerts.render.email import render_email
from jobs.domain import DeliveryStatus
from jobs.errors import InputError
from jobs.storage import repo
from jobs.storage.llm_calls import recent_calls, spent_since
from jobs.storage.tables import DeliveryRow, DigestRow
from worker import audit
from worker.cli.alerts import parse_duration
from worker.delivery import retry_deliveries
from worker.web.security import Analyst, Viewer, engine_of, flash_url, runtime_of
from worker.web.templating import render

__all__ = ["router"]

router = APIRouter()
_DG = cast(sa.Table, DigestRow.__table__)  # type: ignore[attr-defined]
_DL = cast(sa.Table, DeliveryRow.__table__)  # type: ignore[attr-defined]
#: The recipients' HTML in a sandboxed frame: no script, no requests, only its own inline styles and images.
EMAIL_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


@router.get("/deliveries")
def deliveries(request: Request, user: Viewer, status: str = "") -> Response:
    chosen = [DeliveryStatus(status)] if status in {s.value for s in DeliveryStatus} else list(DeliveryStatus)
    lines = list_deliveries(engine_of(request), statuses=tuple(chosen))
    lines = tuple(sorted(lines, key=lambda line: line.id, reverse=True)[:500])
    return render(
        request,
        "deliveries.html",
        lines=lines,
        status=status,
        statuses=[s.value for s in DeliveryStatus],
    )


@router.post("/deliveries/{delivery_id}/retry")
def retry(request: Request, delivery_id: int, user: Analyst) -> Response:
    runtime, now = runtime_of(request), request.app.state.now
    try:
        results = retry_deliveries(runtime, ids=[delivery_id], now=now)
    except AlertsError as exc:
        return RedirectResponse(flash_url("/deliveries", str(exc), error=True), status_code=303)
    outcome = ", ".join(
        f"delivery {line.id} ({line.channel} {line.recipient}): {result.status.value}"
        + (f": {' '.join(result.error.split())[:200]}" if result.status is not DeliveryStatus.SENT else "")
        for line, result in results
    )
    audit.record(
        engine_of(request), actor=user.name, action="retry", target=f"delivery {delivery_id}", detail=outcome, now=now()
    )
    return RedirectResponse(flash_url("/deliveries", outcome or "nothing to retry"), status_code=303)


@router.get("/digests")
def digests(request: Request, user: Viewer, page: Annotated[int, Query(ge=1)] = 1) -> Response:
    size = 50
    with engine_of(request).connect() as conn:
        rows = conn.execute(
            sa.select(
                _DG.c.id,
                _DG.c.subscription,
                _DG.c.data_date,
                _DG.c.headline,
                _DG.c.finding_ids,
                _DG.c.created_at,
                sa.select(sa.func.count()).where(_DL.c.digest_id == _DG.c.id, _DL.c.status == "sent").scalar_subquery(),
                sa.select(sa.func.count()).where(_DL.c.digest_id == _DG.c.id).scalar_subquery(),
            )
            .order_by(_DG.c.id.desc())
            .limit(size + 1)
            .offset((page - 1) * size)
        ).all()
    items = [
        {
            "id": r[0],
            "subscription": r[1],
            "data_date": r[2],
            "headline": r[3],
            "findings": len(json.loads(r[4])),
            "created_at": r[5],
            "sent": r[6],
            "deliveries": r[7],
        }
        for r in rows[:size]
    ]
    return render(request, "digests.html", items=items, page=page, more=len(rows) > size)


@router.get("/digests/{digest_id}")
def digest(request: Request, digest_id: int, user: Viewer) -> Response:
    engine = engine_of(request)
    found = repo.load_digest(engine, digest_id)
    if found is None:
        raise HTTPException(404, f"There is no digest {digest_id}.")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_DL).where(_DL.c.digest_id == digest_id).order_by(_DL.c.id)).mappings().all()
    return render(request, "digest.html", d=found, deliveries=rows)


@router.get("/digests/{digest_id}/email.html")
def digest_email(request: Request, digest_id: int, user: Viewer) -> Response:
    """The HTML part of the email the recipients got, its inline charts as data: URLs."""
    found = repo.load_digest(engine_of(request), digest_id)
    if found is None:
        raise HTTPException(404, f"There is no digest {digest_id}.")
    settings = request.app.state.settings
    message = render_email(found, sender=settings.smtp.sender, recipient="", base_url=settings.web.public_url)
    html = _html_with_images(message)
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _html_with_images(message: EmailMessage) -> str:
    html_part = message.get_body(preferencelist=("html",))
    if html_part is None:
        return "<p>This digest has no HTML part.</p>"
    html = str(cast(EmailMessage, html_part).get_content())
    for part in message.walk():
        cid = str(part.get("Content-ID", "")).strip("<>")
        if cid and part.get_content_type() == "image/png":
            data = base64.b64encode(cast(bytes, part.get_payload(decode=True))).decode()
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    return html


@router.get("/mutes")
def mutes(request: Request, user: Viewer, all_: Annotated[str, Query(alias="all")] = "") -> Response:
    now = request.app.state.now()
    found = list_mutes(engine_of(request), now=now, include_inactive=bool(all_))
    subs = [s.name for s in request.app.state.settings.subscriptions]
    return render(
        request,
        "mutes.html",
        mutes=found,
        now=now,
        show_all=bool(all_),
        subscriptions=subs,
    )


@router.post("/mutes")
def create_mute(
    request: Request,
    *,
    user: Analyst,
    pattern: Annotated[str, Form()],
    duration: Annotated[str, Form(alias="for")] = "7d",
    reason: Annotated[str, Form(max_length=500)] = "",
    subscription: Annotated[str, Form()] = "",
) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    settings = request.app.state.settings
    try:
        if subscription and subscription not in {s.name for s in settings.subscriptions}:
            raise InputError(f"subscription {subscription!r} is not configured")
        created = add_mute(
            engine,
            pattern=pattern,
            until=now + parse_duration(duration),
            reason=reason,
            subscription=subscription,
            now=now,
        )
    except (AlertsError, InputError) as exc:
        return RedirectResponse(flash_url("/mutes", str(exc), error=True), status_code=303)
    audit.record(
        engine,
        actor=user.name,
        action="mute",
        target=f"mute {created.id}",
        detail=f"{created.pattern} until {created.until:%Y-%m-%d %H:%M} UTC" + (f": {reason}" if reason else ""),
        now=now,
    )
    return RedirectResponse("/mutes", status_code=303)


@router.post("/mutes/{mute_id}/end")
def end_mute(request: Request, mute_id: int, user: Analyst) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    try:
        ended = remove_mute(engine, mute_id, now=now)
    except AlertsError as exc:
        return RedirectResponse(flash_url("/mutes", str(exc), error=True), status_code=303)
    audit.record(engine, actor=user.name, action="unmute", target=f"mute {mute_id}", detail=ended.pattern, now=now)
    return RedirectResponse("/mutes", status_code=303)


@router.get("/llm")
def llm(request: Request, user: Viewer) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    settings = request.app.state.settings
    return render(
        request,
        "llm.html",
        calls=recent_calls(engine, limit=200),
        month_to_date=spent_since(engine, month),
        last_30=spent_since(engine, now - timedelta(days=30)),
        budget=settings.llm.monthly_budget_usd,
        month=month,
    )


@router.get("/audit")
def audit_log(request: Request, user: Viewer, page: Annotated[int, Query(ge=1)] = 1) -> Response:
    entries = audit.recent(engine_of(request), limit=101, offset=(page - 1) * 100)
    return render(request, "audit.html", entries=entries[:100], page=page, more=len(entries) > 100)
