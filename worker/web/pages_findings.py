"""``/`` (overview), ``/findings`` (filtered, paged), ``/findings/{id}`` and its label buttons.

A label goes through :func:`jobs.storage.feedback.record_feedback`, exactly as
``barometer feedback`` does (``expected`` keeps the points out of later baselines), and
is written to the audit log with the signed-in user.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from alerts.render import decomposition_line
from jobs.domain import Kind, Label, Severity
from jobs.errors import BarometerError
from jobs.naming import neutralise_bidi
from jobs.storage.feedback import record_feedback
from worker import audit
from worker.web import queries
from worker.web.chart import series_svg
from worker.web.security import Analyst, Viewer, engine_of, flash_url
from worker.web.templating import render

__all__ = ["router"]

router = APIRouter()


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def finding_filter(
    *,
    property_: Annotated[str, Query(alias="property")] = "",
    metric: str = "",
    kind: str = "",
    severity: str = "",
    start: str = "",
    end: str = "",
    label: str = "",
    state: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=5, le=500)] = queries.PAGE_SIZE,
) -> queries.FindingFilter:
    """The filters of ``/findings`` and ``/api/findings`` from the query string; 400 on a bad value."""
    for name, value, allowed in (
        ("kind", kind, [k.value for k in Kind]),
        ("severity", severity, [s.value for s in Severity]),
        ("label", label, ["none", *(lab.value for lab in Label)]),
        ("state", state, ["open", "closed"]),
    ):
        if value and value not in allowed:
            raise HTTPException(400, f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return queries.FindingFilter(
        property=property_,
        metric=metric,
        kind=kind,
        severity=severity,
        start=_day(start, "start"),
        end=_day(end, "end"),
        label=label,
        state=state,
        page=page,
        per_page=per_page,
    )


@router.get("/")
def overview(request: Request, user: Viewer) -> Response:
    today = request.app.state.now().date()
    health, deliveries = queries.overview(engine_of(request), today=today)
    return render(request, "overview.html", health=health, deliveries=deliveries, today=today)


@router.get("/findings")
def findings(
    request: Request, user: Viewer, flt: Annotated[queries.FindingFilter, Depends(finding_filter)]
) -> Response:
    engine = engine_of(request)
    lines, more = queries.findings_page(engine, flt)
    return render(
        request,
        "findings.html",
        lines=lines,
        more=more,
        flt=flt,
        choices=queries.choices(engine),
        kinds=[k.value for k in Kind],
        severities=[s.value for s in Severity],
        labels=[lab.value for lab in Label],
    )


@router.get("/findings/{finding_id}")
def finding(request: Request, finding_id: int, user: Viewer) -> Response:
    engine = engine_of(request)
    found = queries.finding_by_id(engine, finding_id)
    if found is None:
        raise HTTPException(404, f"There is no finding {finding_id}.")
    chart = ""
    if found.chart is not None and found.chart.dates:
        flagged = queries.flagged_days(engine, found, start=found.chart.dates[0], end=found.chart.dates[-1])
        flagged.setdefault(found.anomaly.day, finding_id)
        chart = series_svg(
            found.chart, flagged=flagged, title=neutralise_bidi(f"{found.anomaly.metric} of {found.anomaly.series}")
        )
    history = queries.label_history(engine, finding_id)
    return render(
        request,
        "finding.html",
        f=found,
        a=found.anomaly,
        chart=chart,
        decomposition=decomposition_line(found),
        history=history,
        label=history[-1].label if history else "",
        deliveries=queries.deliveries_of_finding(engine, finding_id),
        digests=queries.digests_of_finding(engine, finding_id),
        labels=[lab.value for lab in Label],
    )


@router.post("/findings/{finding_id}/label")
def label_finding(
    request: Request,
    *,
    finding_id: int,
    user: Analyst,
    label: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        chosen = Label(label)
    except ValueError:
        raise HTTPException(400, f"label: {label!r} is not one of expected, false_alarm, confirmed") from None
    engine = engine_of(request)
    now = request.app.state.now()
    try:
        result = record_feedback(engine, finding_id, chosen, note=note.strip(), now=now)
    except BarometerError as exc:
        raise HTTPException(404, str(exc)) from None
    audit.record(
        engine,
        actor=user.name,
        action="label",
        target=f"finding {finding_id}",
        detail=f"{chosen.value}" + (f": {note.strip()}" if note.strip() else "") + f" ({result.points} point(s))",
        now=now,
    )
    return RedirectResponse(flash_url(f"/findings/{finding_id}", f"Labelled {chosen.value}."), status_code=303)
