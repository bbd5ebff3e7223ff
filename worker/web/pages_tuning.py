"""``/tuning``: pick a property and metric, preview a change over the last weeks, save it.

The preview (``POST /tuning/preview``; htmx swaps it in, without script it is a page)
changes nothing. Saving (``POST /tuning``) needs the analyst role, stores the values in
the database (:mod:`worker.tuning`) and writes the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from jobs.detection.params import DirectionFilter
from jobs.errors import BarometerError
from worker import tuning
from worker.web.security import Analyst, Viewer, engine_of, flash_url
from worker.web.templating import render

__all__ = ["router"]

router = APIRouter()


def _metrics(request: Request, property_name: str) -> list[str]:
    for prop in request.app.state.settings.properties:
        if prop.name == property_name and prop.metrics:
            return list(prop.metrics)
    return []


def _form(request: Request, *, property_name: str, metric: str) -> dict[str, Any]:
    settings = request.app.state.settings
    properties = [p.name for p in settings.properties]
    property_name = property_name if property_name in properties else (properties[0] if properties else "")
    metrics = _metrics(request, property_name) or ["sessions"]
    metric = metric if metric in metrics else metrics[0]
    current = tuning.current_knobs(settings.detection_params(), engine_of(request), property_name, metric)
    return {
        "properties": properties,
        "property": property_name,
        "metrics": metrics,
        "metric": metric,
        "current": current,
        "directions": [d.value for d in DirectionFilter],
        "saved": tuning.saved(engine_of(request)),
    }


@router.get("/tuning")
def tuning_page(
    request: Request,
    user: Viewer,
    property_: Annotated[str, Query(alias="property")] = "",
    metric: str = "",
) -> Response:
    context = _form(request, property_name=property_, metric=metric)
    return render(
        request,
        "tuning.html",
        **context,
        proposed=context["current"],
        weeks=8,
        preview=None,
    )


def _knobs(sensitivity: float, min_change_pct: float, direction: str) -> tuning.Knobs:
    try:
        chosen = DirectionFilter(direction)
    except ValueError:
        raise BarometerError(f"direction: {direction!r} is not one of both, up, down") from None
    return tuning.Knobs(sensitivity, min_change_pct, chosen).check()


@router.post("/tuning/preview")
def preview(
    request: Request,
    *,
    user: Viewer,
    property_: Annotated[str, Form(alias="property")],
    metric: Annotated[str, Form()],
    sensitivity: Annotated[float, Form()],
    min_change_pct: Annotated[float, Form()],
    direction: Annotated[str, Form()],
    weeks: Annotated[int, Form()] = 8,
) -> Response:
    context = _form(request, property_name=property_, metric=metric)
    error, result = "", None
    try:
        proposed = _knobs(sensitivity, min_change_pct, direction)
        result = tuning.preview(
            request.app.state.settings.detection_params(), engine_of(request), property_, metric, proposed, weeks=weeks
        )
    except BarometerError as exc:
        proposed, error = context["current"], str(exc)
    name = "tuning_preview.html" if request.headers.get("hx-target") == "preview" else "tuning.html"
    return render(
        request,
        name,
        **context,
        proposed=proposed,
        weeks=weeks,
        preview=result,
        flash=error,
        flash_kind="error",
        status_code=400 if error else 200,
    )


@router.post("/tuning")
def save(
    request: Request,
    *,
    user: Analyst,
    property_: Annotated[str, Form(alias="property")],
    metric: Annotated[str, Form()],
    sensitivity: Annotated[float, Form()],
    min_change_pct: Annotated[float, Form()],
    direction: Annotated[str, Form()],
) -> Response:
    settings = request.app.state.settings
    if property_ not in {p.name for p in settings.properties}:
        context = _form(request, property_name="", metric="")
        return render(
            request,
            "tuning.html",
            **context,
            proposed=context["current"],
            weeks=8,
            preview=None,
            flash=f"property {property_!r} is not configured",
            flash_kind="error",
            status_code=400,
        )
    try:
        knobs = _knobs(sensitivity, min_change_pct, direction)
    except BarometerError as exc:
        context = _form(request, property_name=property_, metric=metric)
        return render(
            request,
            "tuning.html",
            **context,
            proposed=context["current"],
            weeks=8,
            preview=None,
            flash=str(exc),
            flash_kind="error",
            status_code=400,
        )
    tuning.save(engine_of(request), property_, metric, knobs, actor=user.name, now=request.app.state.now())
    where = f"/tuning?{urlencode({'property': property_, 'metric': metric})}"
    return RedirectResponse(flash_url(where, f"Saved {property_}/{metric}."), status_code=303)
