"""Human names for metrics and series, shared by summaries and rendered messages.

Names come from the public (page paths, search queries). :func:`neutralise_bidi` is the
one place that makes their bidirectional control characters harmless; every display
edge (email, Slack, the webhook document, the LLM's facts, CLI output) passes names
through it, directly or through :func:`series_label`.
"""

from __future__ import annotations

import re

from jobs.domain import TOTAL_SERIES

__all__ = ["BIDI_CONTROLS", "DIMENSION_LABELS", "metric_label", "neutralise_bidi", "series_label"]

#: Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the implicit
#: marks (U+200E, U+200F, U+061C): each can make text read differently from what it is.
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C))
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def neutralise_bidi(text: str) -> str:
    """``text`` with each bidirectional control character written as a visible ``[U+202E]``.

    ``"/rtl-\u202egnp.exe"`` (which displays as ``/rtl-exe.png``) becomes
    ``"/rtl-[U+202E]gnp.exe"``; every other character is kept.
    """
    return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


_METRICS = {
    "sessions": "sessions",
    "totalUsers": "users",
    "activeUsers": "active users",
    "newUsers": "new users",
    "keyEvents": "key events",
    "conversions": "conversions",
    "screenPageViews": "page views",
    "eventCount": "events",
    "clicks": "clicks",
    "impressions": "impressions",
    "ctr": "CTR",
    "position": "average position",
}

#: Reader-facing names of breakdown dimensions (GA4 and Search Console).
DIMENSION_LABELS = {
    "sessionDefaultChannelGroup": "channel",
    "sessionSource": "source",
    "sessionMedium": "medium",
    "sessionCampaignName": "campaign",
    "landingPage": "landing page",
    "landingPagePlusQueryString": "landing page",
    "pagePath": "page",
    "page": "page",
    "query": "query",
    "country": "country",
    "device": "device",
    "deviceCategory": "device",
}


def metric_label(metric: str) -> str:
    """``keyEvents`` -> ``key events``; unknown names are returned as they are."""
    return _METRICS.get(metric, metric)


def series_label(series: str) -> str:
    """``landingPage:/pricing`` -> ``landing page /pricing``; the total -> ``all traffic``.

    The result still contains untrusted text (page paths, queries): escape it per channel.
    """
    if series == TOTAL_SERIES:
        return "all traffic"
    dimension, sep, value = neutralise_bidi(series).partition(":")
    if not sep:
        return dimension
    label = DIMENSION_LABELS.get(dimension.rsplit("/", 1)[-1], dimension)
    return f"{label} {value!r}" if dimension == "query" else f"{label} {value}"
