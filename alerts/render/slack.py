"""A digest as a Slack Block Kit message (incoming webhook payload).

Slack's limits are respected by construction: at most 50 blocks, section text at most
3000 characters, section fields at most 2000, header at most 150. When findings do not
fit, the message says how many more are in the email digest. Every string from data is
escaped (``&``, ``<``, ``>``), so a search query named ``<!channel>`` cannot ping anyone.
"""

from __future__ import annotations

import re
from typing import Any

from alerts.render import FindingFacts, clean, finding_facts, paragraphs, properties_label, subject_line
from jobs.domain import Digest, Severity

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
    """Slack's control characters as entities; nothing else is touched."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…", never in the middle of an entity."""
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cap(text, limit)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _finding_blocks(facts: FindingFacts, severity: Severity) -> list[dict[str, Any]]:
    e = escape
    where = f"{e(facts.series)} · {e(facts.property)}"
    section: dict[str, Any] = {
        "type": "section",
        "text": _mrkdwn(f"{_EMOJI.get(severity, '')} *{e(facts.title)}*\n{where}"),
        "fields": [
            _mrkdwn(f"*Actual*\n{e(facts.actual)} ({e(facts.change)})", MAX_FIELD),
            _mrkdwn(f"*Expected*\n{e(facts.expected)} (range {e(facts.interval)})", MAX_FIELD),
            _mrkdwn(f"*Kind*\n{e(facts.kind)}", MAX_FIELD),
            _mrkdwn(f"*Severity*\n{e(facts.severity)}", MAX_FIELD),
        ],
    }
    blocks = [section]
    if facts.contributors:
        parts = [f"{e(c.label)} {e(c.share)}" for c in facts.contributors]
        more = f" · and {facts.more_contributors} more" if facts.more_contributors else ""
        blocks.append(_context("Top contributors: " + " · ".join(parts) + more))
    return blocks


def render_slack(digest: Digest) -> dict[str, Any]:
    """The Block Kit payload for ``digest``: header, summary, one section per finding with
    its contributors in a context block, and a pointer to the email when some did not fit."""
    subject = escape(subject_line(digest, limit=MAX_TEXT))
    headline = escape(clean(digest.headline, limit=300))
    summary = "\n\n".join(escape(p) for p in paragraphs(digest.summary))
    head: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cap(subject, MAX_HEADER), "emoji": True},
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

    budget = MAX_BLOCKS - len(head) - 1 - 1  # footer and a possible "N more" pointer
    body: list[dict[str, Any]] = []
    shown = 0
    for finding in digest.findings:
        blocks = _finding_blocks(finding_facts(finding), finding.severity)
        if len(body) + len(blocks) > budget:
            break
        body.extend(blocks)
        shown += 1
    hidden = len(digest.findings) - shown
    if not digest.findings:
        body.append(_mrkdwn_section("Nothing unusual: every watched metric stayed within its expected range."))
    if hidden:
        body.append(_context(f"{hidden} more finding{'s' if hidden != 1 else ''} in the email digest."))
    return {
        "text": _cap(subject, MAX_TEXT),
        "blocks": [*head, *body, footer],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
