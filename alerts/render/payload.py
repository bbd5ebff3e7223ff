"""A digest as a JSON document, for generic webhooks (and anything that wants it as data).

Strings are raw (not escaped): page paths and search queries come from the public, so
a consumer that puts them into HTML or chat markup must escape them itself. The shape
(``version`` 1)::

    {"type": "barometer.digest" | "barometer.alert", "version": 1, "id": "digest-7",
     "subscription": ..., "data_date": "YYYY-MM-DD", "generated_at": ISO 8601,
     "subject": ..., "headline": ..., "summary": ..., "notices": [...],
     "incidents": [{"severity", "note", "lead": FINDING, "parts": [FINDING...],
                    "suppressed": [FINDING...]}],
     "held_back": [{"reason": ..., "finding": FINDING}],
     "ongoing": [{"text": "Sessions −41% since Nov 20 (day 5) (shop)", "since": "YYYY-MM-DD",
                  "day": 5, "value": ..., "change": -0.41, "finding": FINDING}]}

``ongoing`` lists the incidents still open on the data date (a level shift or outage that
has not recovered and that nobody accepted as the new level), as the digest's "Still
ongoing" section shows them: a digest with one open is never "all quiet".

FINDING is the detect-output object (``property``, ``series``, ``metric``, ``date``,
``direction``, ``value``, ``expected``, ``lower``, ``upper``, ``p_value``, ``q_value``,
``kind``, ``severity``, ``decomposition`` where there is one) plus ``id``, ``title``,
``change`` and ``contributors`` (``series``, ``observed``, ``expected``, ``share``).
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

from alerts.render import finding_phrase, incidents_of, ongoing_lines
from alerts.render.view import subject
from jobs.detection.explain import finding_to_json
from jobs.domain import Digest, Finding
from jobs.naming import neutralise_bidi
from jobs.storage.layout import base_subscription

__all__ = ["VERSION", "digest_key", "render_payload"]

VERSION = 1


def digest_key(digest: Digest) -> str:
    """A stable id of the digest: ``digest-7`` (or ``subscription/date`` before it is stored)."""
    return f"digest-{digest.id}" if digest.id is not None else f"{digest.subscription}/{digest.data_date.isoformat()}"


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _finding(finding: Finding) -> dict[str, Any]:
    out = finding_to_json(finding)
    phrase = finding_phrase(finding)
    change = finding.anomaly.change
    out.update(
        id=finding.id,
        title=phrase[:1].upper() + phrase[1:],
        change=_num(change),
        contributors=[
            {
                "series": neutralise_bidi(c.series),
                "observed": _num(c.observed),
                "expected": _num(c.expected),
                "share": _num(c.share),
            }
            for c in finding.contributors
        ],
    )
    return out


def render_payload(digest: Digest) -> dict[str, Any]:
    """The JSON-ready document of ``digest`` (see the module docstring)."""
    at = digest.generated_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return {
        "type": "barometer.alert" if digest.immediate else "barometer.digest",
        "version": VERSION,
        "id": digest_key(digest),
        "subscription": base_subscription(digest.subscription),
        "properties": list(digest.properties),
        "data_date": digest.data_date.isoformat(),
        "generated_at": at.isoformat(),
        "subject": subject(digest, limit=1000),
        "headline": digest.headline,
        "summary": digest.summary,
        "summariser": digest.summariser,
        "notices": list(digest.notices),
        "incidents": [
            {
                "severity": incident.severity.value,
                "note": incident.note,
                "lead": _finding(incident.lead),
                "parts": [_finding(f) for f in incident.parts],
                "suppressed": [_finding(f) for f in incident.suppressed],
            }
            for incident in incidents_of(digest)
        ],
        "held_back": [{"reason": h.reason, "finding": _finding(h.finding)} for h in digest.held_back],
        "ongoing": [
            {
                "text": text,
                "since": o.finding.anomaly.day.isoformat(),
                "day": o.days,
                "value": _num(o.observed),
                "change": _num(o.change),
                "finding": _finding(o.finding),
            }
            for o, text in zip(digest.ongoing, ongoing_lines(digest, limit=len(digest.ongoing)), strict=True)
        ],
    }
