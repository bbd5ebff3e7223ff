"""A digest as an email: plain text plus HTML with one small inline PNG chart per top incident.

Structure::

    multipart/alternative
      text/plain                      the same facts as the HTML, for every client
      multipart/related
        text/html                     Jinja2, autoescaped, table layout, CSS inlined by css-inline
        image/png  (Content-ID)       one per incident shown in full that has chart data

What the message says is decided by :func:`alerts.render.view.build_view`. The stylesheet is
inlined into ``style`` attributes (clients that drop ``<style>`` still get the layout); the
dark-mode and narrow-screen rules stay in a ``<style>`` block for the clients that honour them.
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
from typing import Any

import jinja2

from alerts.render import clean
from alerts.render.links import Links
from alerts.render.view import DigestView, IncidentView, build_view
from jobs.domain import Digest, Severity

__all__ = ["MAX_CHARTS", "message_id", "render_email", "render_full_list"]

_TEMPLATES = Path(__file__).parent / "templates"


def _capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _env(*, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=autoescape,  # noqa: S701 (the text part is text/plain: nothing is interpreted)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=not autoescape,
    )
    env.filters["capitalize_first"] = _capitalize_first
    return env


_HTML = _env(autoescape=True)
# The text part is text/plain: nothing in it is interpreted, so there is nothing to escape.
_TEXT = _env(autoescape=False)
_COLOURS = {
    Severity.CRITICAL: "#b71c1c",
    Severity.HIGH: "#c2410c",
    Severity.MEDIUM: "#8a6100",
    Severity.LOW: "#57606a",
}
_DOMAIN_CHARS = re.compile(r"[^A-Za-z0-9.-]")

#: Charts per message at most: one per incident shown in full.
MAX_CHARTS = 5


@dataclass(frozen=True, slots=True)
class _Shown:
    view: IncidentView
    colour: str
    src: str  # "cid:..." in an email, an https URL on a page, "" without a chart


def _inline(html: str) -> str:
    import css_inline  # lazy: only rendering needs it

    inliner = css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True, load_remote_stylesheets=False)
    return str(inliner.inline(html))


def _context(digest: Digest, view: DigestView, shown: list[_Shown]) -> dict[str, Any]:
    return {
        "v": view,
        "full": shown,
        "changes": view.counted,
        "summariser": clean(digest.summariser, limit=100),
        "generated_at": _aware(digest).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_email(
    digest: Digest, *, sender: str, recipient: str, base_url: str = "", links: Links | None = None
) -> EmailMessage:
    """The digest as a ready-to-send message from ``sender`` to ``recipient``.

    ``links`` adds deep links to Google's reports, signed feedback links and the full list
    (``base_url`` alone is the public URL without signed links). Every string that came from
    data is escaped in the HTML part and flattened to one line in the text part.
    """
    from alerts.charts import render_chart  # lazy: matplotlib is slow to import

    links = links or Links(public_url=base_url.rstrip("/"))
    view = build_view(digest, links=links)
    key, domain = _digest_key(digest), _domain(sender)
    images: list[tuple[str, bytes]] = []
    shown = []
    for i in view.full:
        src = ""
        chart = i.lead.finding.chart
        if chart is not None and len(images) < MAX_CHARTS:
            cid = f"chart{len(images) + 1}.{key}@{domain}"
            images.append((cid, render_chart(chart, title=i.lead.title)))
            src = f"cid:{cid}"
        shown.append(_Shown(i, _COLOURS.get(i.severity, "#57606a"), src))
    context = _context(digest, view, shown)
    msg = EmailMessage()
    msg["Subject"] = view.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(_aware(digest))
    msg["Message-ID"] = message_id(digest, recipient=recipient, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    text = _TEXT.get_template("digest.txt.j2").render(context)
    html = _inline(_HTML.get_template("digest.html.j2").render(context))
    # quoted-printable: 7-bit clean, so no relay needs 8BITMIME for the UTF-8 in page names
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    html_part = list(msg.iter_parts())[1]
    for cid, png in images:
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


def render_full_list(digest: Digest, *, links: Links | None = None) -> str:
    """Every incident of ``digest`` in full, as one HTML page (the target of "and N more").

    Charts are images from ``barometer web`` when ``links`` can sign them, else left out.
    """
    links = links or Links()
    view = build_view(digest, links=Links(links.public_url, links.signer, links.now, links.reports), max_full=10**6)
    shown = [
        _Shown(i, _COLOURS.get(i.severity, "#57606a"), links.chart(i.lead.finding) if i.lead.finding.chart else "")
        for i in view.full
    ]
    return _inline(_HTML.get_template("digest.html.j2").render(_context(digest, view, shown)))


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
