"""A digest as a Slack Block Kit message (incoming webhook payload).

Slack's limits are respected by construction: at most 50 blocks, section text at most
3000 characters, section fields at most 2000, header at most 150. When findings do not
fit, the message says how many more are in the email digest. Every string from data is
escaped (``&``, ``<``, ``>``), so a search query named ``<!channel>`` cannot ping anyone.
"""

from __future__ import annotations

import re
from typing import Any

from alerts.render import (
    IncidentFacts,
    clean,
    held_back_lines,
    incident_facts,
    incidents_of,
    ongoing_lines,
    paragraphs,
    properties_label,
    subject_line,
)
from jobs.domain import Digest, Severity
from jobs.naming import neutralise_bidi

__all__ = ["MAX_BLOCKS", "escape", "render_slack"]

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_TEXT = 3000
MAX_FIELD = 2000

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


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _incident_blocks(facts: IncidentFacts, severity: Severity) -> list[dict[str, Any]]:
    e = escape
    lead = facts.lead
    where = f"{e(lead.series)} · {e(lead.property)}"
    related = f"\n{e(facts.related)} (one incident)" if facts.related else ""
    section: dict[str, Any] = {
        "type": "section",
        "text": _mrkdwn(f"{_EMOJI.get(severity, '')} *{e(lead.title)}*\n{where}{related}"),
        "fields": [
            _mrkdwn(f"*Actual*\n{e(lead.actual)} ({e(lead.change)})", MAX_FIELD),
            _mrkdwn(f"*Expected*\n{e(lead.expected)} (range {e(lead.interval)})", MAX_FIELD),
            _mrkdwn(f"*Kind*\n{e(lead.kind)}", MAX_FIELD),
            _mrkdwn(f"*Severity*\n{e(facts.severity)}", MAX_FIELD),
        ],
    }
    blocks = [section]
    lines = []
    if facts.note:
        lines.append(f":information_source: {e(facts.note)}")
    if lead.decomposition:
        lines.append(e(lead.decomposition))
    if lead.contributors:
        parts = [f"{e(c.label)} {e(c.share)}" for c in lead.contributors]
        more = f" · and {lead.more_contributors} more" if lead.more_contributors else ""
        lines.append("Top contributors: " + " · ".join(parts) + more)
    if facts.parts:
        lines.append(
            "Also in this incident: "
            + " · ".join(f"{e(p.title)} ({e(p.actual)} vs {e(p.expected)}, {e(p.severity)})" for p in facts.parts)
            + (f" · and {facts.more_parts:,} more" if facts.more_parts else "")
        )
    if facts.suppressed:
        lines.append(
            f"Suppressed because of {e(facts.suppressed_because)}: " + " · ".join(e(x) for x in facts.suppressed)
        )
    if lines:
        blocks.append({"type": "context", "elements": [_mrkdwn(line) for line in lines[:10]]})
    return blocks


def render_slack(digest: Digest) -> dict[str, Any]:
    """The Block Kit payload for ``digest``: header, summary, notices, one section per
    incident (its lead's numbers; note, which factor drove a product metric, contributors,
    related parts and what it suppressed in a context block), what was held back, and a
    pointer when some did not fit."""
    subject = escape(subject_line(digest, limit=MAX_TEXT))
    headline = escape(clean(digest.headline, limit=300))
    alarm = ":rotating_light: " if digest.immediate else ""
    summary = "\n\n".join(escape(p) for p in paragraphs(digest.summary))
    head: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cap(alarm + subject, MAX_HEADER), "emoji": True},
        },
        {"type": "section", "text": _mrkdwn(f"*{headline}*\n{summary}" if headline else summary or subject)},
    ]
    if digest.notices:
        head.append(
            {"type": "context", "elements": [_mrkdwn(":warning: " + escape(clean(n))) for n in digest.notices[:10]]}
        )
    head.append({"type": "divider"})
    footer = _context(
        f"barometer · {escape(properties_label(digest))} · data for {digest.data_date.isoformat()}"
        f" · summary by {escape(clean(digest.summariser, limit=100))}"
    )

    held = ongoing_lines(digest) + held_back_lines(digest, limit=20)
    if held:
        footer_blocks = [_context(":zzz: Not alerted this time: " + " · ".join(escape(line) for line in held)), footer]
    else:
        footer_blocks = [footer]
    budget = MAX_BLOCKS - len(head) - len(footer_blocks) - 1  # and a possible "N more" pointer
    body: list[dict[str, Any]] = []
    incidents = incidents_of(digest)
    shown = 0
    for incident in incidents:
        blocks = _incident_blocks(incident_facts(incident), incident.severity)
        if len(body) + len(blocks) > budget:
            break
        body.extend(blocks)
        shown += 1
    hidden = len(incidents) - shown
    if not incidents:
        quiet = "Nothing new: the problems below are ongoing and were alerted before."
        body.append(
            _mrkdwn_section(
                quiet if held else "Nothing unusual: every watched metric stayed within its expected range."
            )
        )
    if hidden:
        more = f"{hidden} more change{'s' if hidden != 1 else ''}"
        body.append(_context(f"{more} in the email digest (a Slack message holds at most {MAX_BLOCKS} blocks)."))
    return {
        "text": _cap(subject, MAX_TEXT),
        "blocks": [*head, *body, *footer_blocks],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
