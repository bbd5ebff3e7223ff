"""A digest as an email: plain text plus HTML with one inline PNG chart per finding.

Structure::

    multipart/alternative
      text/plain                      the same facts as the HTML, for every client
      multipart/related
        text/html                     Jinja2, autoescaped, inline styles, tables, <= 640 px
        image/png  (Content-ID)       one per finding that has chart data

The Message-ID is derived from the digest id and the recipient, so a resend of the same
digest to the same person carries the same id and mail clients can recognise it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

import jinja2

from alerts.charts import render_chart
from alerts.render import (
    FindingFacts,
    IncidentFacts,
    clean,
    finding_facts,
    held_back_lines,
    incident_facts,
    incidents_of,
    ongoing_lines,
    paragraphs,
    properties_label,
    subject_line,
)
from jobs.domain import Digest, Finding, Severity

__all__ = ["message_id", "render_email"]

_TEMPLATES = Path(__file__).parent / "templates"
_HTML = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The text part is text/plain: nothing in it is interpreted, so there is nothing to escape.
_TEXT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=False,  # noqa: S701
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_COLOURS = {
    Severity.CRITICAL: "#b71c1c",
    Severity.HIGH: "#e65100",
    Severity.MEDIUM: "#f9a825",
    Severity.LOW: "#607d8b",
}
_DOMAIN_CHARS = re.compile(r"[^A-Za-z0-9.-]")


#: Charts per message at most (the rest of the findings are shown without one).
MAX_CHARTS = 20


@dataclass(frozen=True, slots=True)
class _FindingView:
    facts: FindingFacts
    colour: str
    cid: str  # "" when the finding has no chart
    link: str
    finding_ref: str


@dataclass(frozen=True, slots=True)
class _IncidentView:
    facts: IncidentFacts
    colour: str
    lead: _FindingView
    parts: tuple[_FindingView, ...]


class _Charts:
    """Renders each finding's chart once, under a content id unique to this message."""

    def __init__(self, key: str, domain: str) -> None:
        self.key, self.domain = key, domain
        self.images: list[tuple[str, bytes]] = []

    def view(self, finding: Finding, *, base_url: str) -> _FindingView:
        facts = finding_facts(finding)
        cid = ""
        if finding.chart is not None and len(self.images) < MAX_CHARTS:
            cid = f"chart{len(self.images) + 1}.{self.key}@{self.domain}"
            self.images.append((cid, render_chart(finding.chart, title=f"{facts.metric} · {facts.series}")))
        link = f"{base_url.rstrip('/')}/findings/{finding.id}" if base_url and finding.id is not None else ""
        ref = "" if finding.id is None else str(finding.id)
        return _FindingView(facts, _COLOURS.get(finding.severity, "#607d8b"), cid, link, ref)


def render_email(digest: Digest, *, sender: str, recipient: str, base_url: str = "") -> EmailMessage:
    """The digest as a ready-to-send message from ``sender`` to ``recipient``.

    ``base_url``, when given, adds a "details" link per stored finding
    (``{base_url}/findings/{id}``). Every string that came from data is escaped in the
    HTML part and flattened to one line in the text part.
    """
    charts = _Charts(_digest_key(digest), _domain(sender))
    views = []
    for incident in incidents_of(digest):
        lead = charts.view(incident.lead, base_url=base_url)
        facts = incident_facts(incident)
        parts = tuple(charts.view(f, base_url=base_url) for f in incident.parts[: len(facts.parts)])
        views.append(_IncidentView(facts, _COLOURS.get(incident.severity, "#607d8b"), lead, parts))
    domain = charts.domain

    subject = subject_line(digest)
    context = {
        "subject": subject,
        "headline": clean(digest.headline, limit=300) or subject,
        "summary": paragraphs(digest.summary, limit=4000),
        "notices": [clean(n, limit=500) for n in digest.notices],
        "where": properties_label(digest),
        "data_date": digest.data_date.isoformat(),
        "incidents": views,
        "immediate": digest.immediate,
        "held_back": ongoing_lines(digest) + held_back_lines(digest),
        "summariser": clean(digest.summariser, limit=100),
        "generated_at": _aware(digest).strftime("%Y-%m-%d %H:%M UTC"),
    }
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(_aware(digest))
    msg["Message-ID"] = message_id(digest, recipient=recipient, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    text = _TEXT.get_template("digest.txt.j2").render(context)
    html = _HTML.get_template("digest.html.j2").render(context)
    # quoted-printable: 7-bit clean, so no relay needs 8BITMIME for the UTF-8 in page names
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    html_part = list(msg.iter_parts())[1]
    for cid, png in charts.images:
        html_part.add_related(
            png,
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            disposition="inline",
            filename=f"{cid.split('.')[0]}.png",
        )
    # Boundaries from a hash of the content: the same digest gives the same bytes, and no
    # content can contain the boundary that is derived from it.
    seal = hashlib.sha256(f"{msg['Message-ID']}\n{text}\n{html}".encode()).hexdigest()[:32]
    msg.set_boundary(f"=_alt_{seal}")
    html_part.set_boundary(f"=_rel_{seal}")
    return msg


def message_id(digest: Digest, *, recipient: str, domain: str = "barometer.local") -> str:
    """``<barometer.{digest}.{recipient hash}@{domain}>``: the same for a resend of one digest to one person."""
    who = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:16]
    return f"<barometer.{_digest_key(digest)}.{who}@{domain}>"


def _digest_key(digest: Digest) -> str:
    if digest.id is not None:
        return f"digest-{digest.id}"
    natural = f"{digest.subscription}|{digest.data_date.isoformat()}"
    return "digest-" + hashlib.sha256(natural.encode()).hexdigest()[:16]


def _domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return _DOMAIN_CHARS.sub("", domain) or "barometer.local"


def _aware(digest: Digest) -> datetime:
    at = digest.generated_at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
