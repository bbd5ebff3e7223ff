"""Small text helpers shared by the renderers and the alert policy (what a message says is
decided in :mod:`alerts.render.view`, in the words of :mod:`alerts.render.words`).

Everything here returns *raw* text: cleaned of control characters and bounded in length,
but not escaped. Each renderer escapes for its own format (HTML autoescaping in the email
templates, ``&``/``<``/``>`` entities in Slack mrkdwn). Series names come from the public
(page paths, search queries), so they are never trusted.
"""

from __future__ import annotations

import math
import re

from jobs.domain import TOTAL_SERIES, Anomaly, Digest, Factor, Finding, Incident, Kind
from jobs.naming import neutralise_bidi

__all__ = [
    "clean",
    "collapse_of",
    "decomposition_line",
    "finding_phrase",
    "finding_subject",
    "format_change",
    "format_relative",
    "incidents_of",
    "ongoing_lines",
    "paragraphs",
    "pretty_metric",
    "pretty_series",
    "properties_label",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_DIMENSIONS = {
    "landingPage": "Landing page",
    "landingPagePlusQueryString": "Landing page",
    "pagePath": "Page",
    "page": "Page",
    "query": "Query",
    "country": "Country",
    "device": "Device",
    "deviceCategory": "Device",
    "sessionDefaultChannelGroup": "Channel",
    "sessionSource": "Source",
    "sessionMedium": "Medium",
    "sessionSourceMedium": "Source / medium",
    "sessionCampaignName": "Campaign",
    "searchAppearance": "Search appearance",
}

_METRICS = {
    "keyEvents": "key events",
    "ctr": "CTR",
    "position": "average position",
    "screenPageViews": "page views",
}


def clean(text: str, *, limit: int = 200) -> str:
    """``text`` on one line (control characters become spaces, bidirectional ones a visible
    ``[U+202E]``: :func:`jobs.naming.neutralise_bidi`), at most ``limit`` characters."""
    flat = neutralise_bidi(_CONTROL.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def paragraphs(text: str, *, limit: int = 3000) -> list[str]:
    """``text`` split at blank lines, each paragraph cleaned to one line of at most ``limit``."""
    return [clean(p, limit=limit) for p in re.split(r"\n\s*\n", text) if p.strip()]


def pretty_series(series: str) -> str:
    """``"landingPage:/pricing"`` -> ``"Landing page /pricing"``; ``"total"`` -> ``"All traffic"``."""
    if series == TOTAL_SERIES:
        return "All traffic"
    dimension, sep, value = series.partition(":")
    if not sep:
        return clean(series)
    label = _DIMENSIONS.get(dimension) or _CAMEL.sub(" ", dimension).capitalize()
    if dimension == "query":
        value = f"“{value}”"
    return clean(f"{label} {value}")


def pretty_metric(metric: str) -> str:
    """``"keyEvents"`` -> ``"key events"``; unknown names are split at camel-case humps."""
    return _METRICS.get(metric) or clean(_CAMEL.sub(" ", metric).lower(), limit=80)


def format_relative(change: float) -> str:
    """A relative change as a signed percentage: ``"-98%"``, ``"+4.5%"``, ``"new"`` (from zero)."""
    if math.isinf(change):
        return "new"
    pct = change * 100
    return f"{pct:+.1f}%" if abs(pct) < 10 else f"{pct:+,.0f}%"


def format_change(anomaly: Anomaly) -> str:
    """Signed relative change against expectation: ``"-98%"``, ``"+4.5%"``, ``"new"`` (from zero)."""
    return format_relative(anomaly.change)


def finding_phrase(finding: Finding) -> str:
    """``"key events down 98%"``, ``"sessions up 40% on Landing page /blog"`` (raw text)."""
    a = finding.anomaly
    change = format_change(a)
    moved = "up from zero" if change == "new" else f"{a.direction.value} {change.lstrip('+-')}"
    where = "" if a.series == TOTAL_SERIES else f" on {pretty_series(a.series)}"
    return f"{pretty_metric(a.metric)} {moved}{where}"


def finding_subject(finding: Finding) -> str:
    """What a finding is about: ``"key events on shop"``, ``"clicks of Page /x on shop-search"``."""
    a = finding.anomaly
    of = "" if a.series == TOTAL_SERIES else f" of {pretty_series(a.series)}"
    return f"{pretty_metric(a.metric)}{of} on {clean(a.property, limit=80)}"


def properties_label(digest: Digest) -> str:
    """The properties a digest covers, or its subscription name when it lists none."""
    return clean(", ".join(digest.properties) or digest.subscription, limit=80)


def incidents_of(digest: Digest) -> tuple[Incident, ...]:
    """The digest's incidents; a digest without grouping shows each finding as its own."""
    return digest.incidents or tuple(Incident(findings=(f,)) for f in digest.findings)


def collapse_of(finding: Finding) -> str:
    """What an outage is called where it suppresses others: ``"the tracking break of key events
    on shop"`` (a total) or ``"the collapse of impressions of Page /x on shop-search"``."""
    if finding.anomaly.kind is not Kind.OUTAGE:
        return finding_subject(finding)
    what = "the tracking break" if finding.anomaly.series == TOTAL_SERIES else "the collapse"
    return f"{what} of {finding_subject(finding)}"


def decomposition_line(finding: Finding) -> str:
    """Which factor of a product metric drove the change, the driver first (raw text), for
    analysts (the console): ``"Driven by CTR (-37%); impressions -5%"`` on a clicks finding,
    ``"Clicks -57%, driven by CTR (-53%); impressions -6%"`` on a finding of the factor that
    drove it; ``""`` without a decomposition (:attr:`jobs.domain.Finding.drivers`). Messages
    use the plainer :func:`alerts.render.words.driver_line`."""
    d = finding.drivers
    if d is None:
        return ""
    a = finding.anomaly

    def change(f: Factor) -> str:  # the finding's own metric reads exactly as in its title
        return format_change(a) if f.name == a.metric else format_relative(f.change)

    driver, *others = d.ranked
    rest = "".join(f"; {pretty_metric(f.name)} {change(f)}" for f in others)
    driven = f"driven by {pretty_metric(driver.name)} ({change(driver)}){rest}"
    if d.metric == a.metric:  # the title already says how the product moved
        return clean(driven[:1].upper() + driven[1:], limit=300)
    product = pretty_metric(d.metric)
    return clean(f"{product[:1].upper()}{product[1:]} {format_relative(d.change)}, {driven}", limit=300)


def ongoing_lines(digest: Digest, *, limit: int = 20) -> tuple[str, ...]:
    """``"sessions −41% since Nov 20 (day 5) (shop)"``, one per open incident (the digest
    shows them under "Still ongoing")."""
    lines = []
    for o in digest.ongoing[:limit]:
        a = o.finding.anomaly
        where = "" if a.series == TOTAL_SERIES else f" on {pretty_series(a.series)}"
        change = f"{'−' if o.change < 0 else '+'}{abs(o.change) * 100:.0f}%"
        since = f"{a.day:%b} {a.day.day}"
        lines.append(
            clean(
                f"{pretty_metric(a.metric)} {change}{where} since {since} (day {o.days}) ({a.property})",
                limit=300,
            )
        )
    return tuple(lines)
