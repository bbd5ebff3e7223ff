"""A digest as a Slack Block Kit message (incoming webhook or chat.postMessage payload).

The same view as the email (:func:`alerts.render.view.build_view`): a header of at most
:data:`MAX_HEADER` characters (the top change, never a raw URL), a summary block of at most
:data:`MAX_SUMMARY` characters, then per incident in full a section (title, numbers, kind),
its chart as an image block from ``barometer web`` when a public URL and a link secret are
set, and buttons (the Google report, feedback); the rest one line each and "and N more".
Slack's own limits hold by construction (50 blocks, 3000 characters per section text,
2000 per field, 150 per header). Every string from data is escaped (``&``, ``<``, ``>``),
so a search query named ``<!channel>`` cannot ping anyone.
"""

from __future__ import annotations

import re
from typing import Any

from alerts.render.links import Links, ReportLink
from alerts.render.view import DigestView, FindingView, IncidentView, build_view, subject
from jobs.domain import Digest, Severity
from jobs.naming import neutralise_bidi

__all__ = ["MAX_BLOCKS", "MAX_HEADER", "MAX_SUMMARY", "escape", "render_slack"]

MAX_BLOCKS = 50
#: Slack allows 150; a header that fits a phone's notification is much shorter.
MAX_HEADER = 75
MAX_SUMMARY = 500
MAX_TEXT = 3000
MAX_BUTTON = 75

_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":white_circle:",
}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: str) -> str:
    """Slack's control characters as entities, bidirectional ones shown (:func:`neutralise_bidi`)."""
    return neutralise_bidi(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…", never in the middle of an entity."""
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cap(text, limit)}


def _section(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, limit)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _link(url: str, text: str) -> str:
    """A mrkdwn link; the URL is ours (no ``|`` or ``>`` in it), the text is escaped."""
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{escape(text)}>"


def _button(link: ReportLink, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _cap(link.text, MAX_BUTTON), "emoji": False},
        "url": link.url,
    }
    if primary:
        button["style"] = "primary"
    return button


def _finding_text(f: FindingView, severity: Severity) -> str:
    lines = [
        f"{_EMOJI.get(severity, '')} *{escape(f.title)}*  _{escape(f.kind)}_",
        escape(f.numbers[:1].upper() + f.numbers[1:]),
    ]
    return "\n".join(lines)


def _incident_blocks(i: IncidentView, links: Links) -> list[dict[str, Any]]:
    lead = i.lead
    blocks: list[dict[str, Any]] = [_section(_finding_text(lead, i.severity))]
    notes = []
    if i.note:
        notes.append(escape(i.note[:1].upper() + i.note[1:]))
    if i.silenced:
        notes.append("Tracking stopped for: " + escape(", ".join(i.silenced)))
    if lead.driver:
        notes.append(escape(lead.driver))
    if lead.contributors:
        notes.append("Mostly from " + escape("; ".join(lead.contributors)))
    if i.parts:
        notes.append("Same incident: " + " · ".join(escape(p.line) for p in i.parts))
    if notes:
        blocks.append({"type": "context", "elements": [_mrkdwn(n) for n in notes[:10]]})
    chart = links.chart(lead.finding) if lead.finding.chart is not None else ""
    if chart:
        blocks.append(
            {
                "type": "image",
                "image_url": chart,
                "alt_text": _cap(escape(f"Chart of {lead.title}: {lead.numbers}"), 2000),
            }
        )
    buttons = ([_button(lead.report, primary=True)] if lead.report else []) + [_button(b) for b in lead.feedback]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _brief(view: DigestView) -> list[dict[str, Any]]:
    if not view.brief and not view.more:
        return []
    lines = [f"• {escape(i.lead.line)}" + (f" _({escape(i.alerted)})_" if i.alerted else "") for i in view.brief]
    if view.more:
        more = f"and {view.more} more"
        lines.append(f"• {_link(view.all_url, more)}" if view.all_url else f"• {more}")
    head = "*Also*" if view.full else "*Changes*"
    return [_section(head + "\n" + "\n".join(lines))]


def render_slack(digest: Digest, *, links: Links | None = None) -> dict[str, Any]:
    """The Block Kit payload for ``digest`` (see the module docstring)."""
    links = links or Links()
    view = build_view(digest, links=links)
    alarm = ":rotating_light: " if view.immediate else ""
    header = escape(subject(digest, limit=MAX_HEADER - len(alarm)))
    summary = escape(" ".join(view.lead)) or escape(view.quiet or view.subject)
    meta = f"{escape(view.where)} · {view.data_date}" + (f" · {view.counted}" if view.count else "")
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cap(alarm + header, MAX_HEADER), "emoji": True}},
        _context(meta),
        _section(summary, MAX_SUMMARY),
    ]
    if view.notices:
        head.append({"type": "context", "elements": [_mrkdwn(":warning: " + escape(n)) for n in view.notices[:10]]})
    if not view.count and view.quiet:
        head.append(_section(escape(view.quiet)))
    tail: list[dict[str, Any]] = []
    if view.ongoing:
        tail.append(_context("*Still ongoing:* " + " · ".join(escape(line) for line in view.ongoing)))
    if view.recovered:
        tail.append(_context("*Recovered this week:* " + " · ".join(escape(line) for line in view.recovered)))
    if view.dates:
        tail.append(_context(" · ".join(escape(d) for d in view.dates)))
    brief = _brief(view)
    budget = MAX_BLOCKS - len(head) - len(tail) - len(brief) - 2  # dividers
    body: list[dict[str, Any]] = []
    for i in view.full:
        blocks = _incident_blocks(i, links)
        if len(body) + len(blocks) + 1 > budget:
            break
        body += [{"type": "divider"}, *blocks]
    return {
        "text": _cap(escape(view.subject), MAX_TEXT),
        "blocks": [*head, *body, *([{"type": "divider"}] if brief else []), *brief, *tail],
        "unfurl_links": False,
        "unfurl_media": False,
    }
