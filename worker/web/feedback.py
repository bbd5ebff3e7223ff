"""The pages that links in messages open: feedback, chart images, a digest's full list.

Every URL carries a token signed by :mod:`alerts.signing` (the instance's link secret),
so these pages need no login and reveal nothing without a valid, unexpired link:

* ``GET /feedback/{token}``: a small page that says what will be recorded and submits
  itself (a script allowed by a per-response CSP nonce), with a button for clients that
  run no script. A GET never records anything: mail scanners and chat unfurlers prefetch
  links, and a prefetch must not label a finding.
* ``POST /feedback/{token}``: records the label (:func:`jobs.storage.feedback.record_feedback`,
  the same as ``barometer feedback``). A reader signed in to the console lands on the
  finding's console page (``/findings/{id}``) with the label applied; anyone else gets a
  short thank-you page that links there. Recording the same link twice stores the label
  again, which changes nothing the detection reads.
* ``GET /charts/{token}.png``: the finding's chart (Slack image blocks point here).
* ``GET /digests/{id}/all?t={token}``: every change of a digest in full.

A bad or expired link gets a 4xx page with one sentence saying why.
"""

from __future__ import annotations

import html
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.render.email import render_full_list
from alerts.signing import BadLink, Claim
from jobs.domain import Label
from jobs.storage import repo
from jobs.storage.feedback import record_feedback
from worker import bootstrap
from worker.settings import Settings
from worker.web.security import runtime_of

__all__ = ["router"]

router = APIRouter()

_WORDS = {"expected": "expected", "false_alarm": "a false alarm", "confirmed": "useful"}
_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>barometer</title>
<style nonce="{nonce}">body{{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:32rem;
margin:3rem auto;padding:0 1rem;color:#24292e}}button{{font-size:1rem;padding:.5rem 1rem}}</style></head>
<body>{body}</body></html>"""


def _page(body: str, *, status: int = 200, nonce: str = "") -> HTMLResponse:
    nonce = nonce or secrets.token_urlsafe(16)
    csp = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; form-action 'self'; img-src 'self'"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }
    return HTMLResponse(_PAGE.format(nonce=nonce, body=body), status_code=status, headers=headers)


def _claim(request: Request, token: str, purpose: str) -> Claim:
    settings: Settings = request.app.state.settings
    signer = bootstrap.link_signer(settings)
    if signer is None:
        raise BadLink("links are not enabled on this server (no link secret is set)")
    return signer.verify(token, purpose=purpose, now=request.app.state.now())


def _bad(exc: BadLink) -> HTMLResponse:
    return _page(f"<h1>This link does not work</h1><p>{html.escape(str(exc))}.</p>", status=403)


@router.get("/feedback/{token}", response_class=HTMLResponse)
def feedback_page(request: Request, token: str) -> HTMLResponse:
    """Confirm and (with a script) submit the feedback the link is for; records nothing."""
    try:
        claim = _claim(request, token, "feedback")
    except BadLink as exc:
        return _bad(exc)
    nonce = secrets.token_urlsafe(16)
    words = html.escape(_WORDS.get(claim.label, claim.label))
    body = (
        f"<h1>Mark this change as {words}?</h1>"
        f'<form id="f" method="post"><button type="submit">Yes, mark it as {words}</button></form>'
        f"<script nonce=\"{nonce}\">document.getElementById('f').submit();</script>"
    )
    return _page(body, nonce=nonce)


@router.post("/feedback/{token}", response_model=None)
def feedback_record(request: Request, token: str) -> HTMLResponse | RedirectResponse:
    """Record the label the link is for; land a console user on the finding's page."""
    try:
        claim = _claim(request, token, "feedback")
        label = Label(claim.label)
    except BadLink as exc:
        return _bad(exc)
    except ValueError:
        return _bad(BadLink("this link asks for a label barometer does not know"))
    engine = runtime_of(request).engine
    stored = [i for i in claim.finding_ids if repo.finding_by_id(engine, i) is not None]
    if not stored:
        return _page("<h1>This change is no longer stored</h1><p>Nothing was recorded.</p>", status=404)
    for finding_id in stored:  # the incident's lead and its parts, labelled together
        record_feedback(engine, finding_id, label, note="from a link in a message", now=request.app.state.now())
    console = f"/findings/{stored[0]}"
    if _signed_in(request):
        return RedirectResponse(console, status_code=303)
    words = html.escape(_WORDS.get(label.value, label.value))
    return _page(
        f"<h1>Thank you</h1><p>Recorded: this change was {words}. It tunes what is alerted next.</p>"
        f'<p><a href="{console}">Open it in the console</a> (analysts sign in there).</p>'
    )


def _signed_in(request: Request) -> bool:
    """Does the request carry a live console session? (Never an error: the thank-you page
    is the answer whenever the console cannot tell.)"""
    from worker.web.security import SESSION_COOKIE, current_session

    if not request.cookies.get(SESSION_COOKIE):
        return False
    try:
        return current_session(request) is not None
    except Exception:
        return False


@router.get("/charts/{token}.png")
def chart(request: Request, token: str) -> Response:
    """The chart of the finding the link is for, as a PNG."""
    from alerts.charts import render_chart  # lazy: matplotlib is slow to import
    from alerts.render.words import title

    try:
        claim = _claim(request, token, "chart")
    except BadLink as exc:
        return _bad(exc)
    finding = repo.finding_by_id(runtime_of(request).engine, claim.finding_id)
    if finding is None or finding.chart is None:
        return Response(status_code=404)
    png = render_chart(finding.chart, title=title(finding))
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/digests/{digest_id}/all", response_class=HTMLResponse)
def full_list(request: Request, digest_id: int, t: str = "") -> HTMLResponse:
    """Every change of digest ``digest_id`` in full (the target of "and N more")."""
    try:
        claim = _claim(request, t, "digest")
        if claim.finding_id != digest_id:
            raise BadLink("this link is for another digest")
    except BadLink as exc:
        return _bad(exc)
    runtime = runtime_of(request)
    digest = repo.load_digest(runtime.engine, digest_id)
    if digest is None:
        return _page("<h1>This digest is no longer stored</h1>", status=404)
    links = runtime.links(now=request.app.state.now())
    return HTMLResponse(render_full_list(digest, links=links), headers={"Referrer-Policy": "no-referrer"})
