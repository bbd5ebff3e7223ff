"""``/api/...``: JSON mirrors of the lists, for scripts (a session or ``Authorization: Bearer TOKEN``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from alerts.deliveries import list_deliveries
from jobs.domain import DeliveryStatus
from worker.web import queries
from worker.web.pages_findings import finding_filter
from worker.web.security import Viewer, engine_of

__all__ = ["router"]

router = APIRouter(prefix="/api")


@router.get("/findings")
def findings(
    request: Request, user: Viewer, flt: Annotated[queries.FindingFilter, Depends(finding_filter)]
) -> dict[str, Any]:
    lines, more = queries.findings_page(engine_of(request), flt)
    return {
        "page": flt.page,
        "more": more,
        "findings": [
            {
                "id": f.id,
                "property": f.property_name,
                "day": f.day.isoformat(),
                "series": f.series,
                "metric": f.metric,
                "kind": f.kind,
                "direction": f.direction,
                "severity": f.severity,
                "observed": f.observed,
                "expected": f.expected,
                "label": f.label or None,
                "state": "open" if f.open else "closed",
            }
            for f in lines
        ],
    }


@router.get("/deliveries")
def deliveries(request: Request, user: Viewer, status: str = "") -> dict[str, Any]:
    chosen = [DeliveryStatus(status)] if status in {s.value for s in DeliveryStatus} else list(DeliveryStatus)
    lines = list_deliveries(engine_of(request), statuses=tuple(chosen))
    return {
        "deliveries": [
            {
                "id": d.id,
                "digest_id": d.digest_id,
                "subscription": d.subscription,
                "data_date": d.data_date.isoformat(),
                "channel": d.channel,
                "recipient": d.recipient,
                "status": d.status.value,
                "attempts": d.attempts,
                "error": d.error,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in lines
        ]
    }


@router.get("/incidents")
def incidents(request: Request, user: Viewer) -> dict[str, Any]:
    """Open findings per property (recent and not closed by a label)."""
    health, _ = queries.overview(engine_of(request), today=request.app.state.now().date())
    return {
        "properties": [
            {
                "property": p.name,
                "newest_day": p.newest_day.isoformat() if p.newest_day else None,
                "open": p.open_findings,
                "top": [{"id": f.id, "day": f.day.isoformat(), "series": f.series, "metric": f.metric} for f in p.top],
            }
            for p in health
        ]
    }
