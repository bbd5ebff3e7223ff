"""The words and numbers a digest is made of, shared by the email and Slack renderers.

Everything here returns *raw* text: cleaned of control characters and bounded in length,
but not escaped. Each renderer escapes for its own format (HTML autoescaping in the email
templates, ``&``/``<``/``>`` entities in Slack mrkdwn). Series names come from the public
(page paths, search queries), so they are never trusted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from jobs.domain import RATE_METRICS, TOTAL_SERIES, Anomaly, Digest, Factor, Finding, Incident, Kind
from jobs.naming import neutralise_bidi

__all__ = [
    "ContributorFacts",
    "FindingFacts",
    "IncidentFacts",
    "clean",
    "collapse_of",
    "decomposition_line",
    "finding_facts",
    "finding_phrase",
    "finding_subject",
    "format_change",
    "format_relative",
    "format_value",
    "held_back_lines",
    "incident_facts",
    "incidents_of",
    "ongoing_lines",
    "paragraphs",
    "pretty_metric",
    "pretty_series",
    "properties_label",
    "subject_line",
]

#: How many contributors a finding lists; the rest are summarised by the share they leave.
MAX_CONTRIBUTORS = 5
#: How many parts and suppressed findings an incident lists before "and N more".
MAX_PARTS = 10
MAX_SUPPRESSED = 20

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

_KINDS = {
    Kind.SPIKE: "spike",
    Kind.DROP: "drop",
    Kind.LEVEL_SHIFT: "level shift",
    Kind.OUTAGE: "tracking outage",
    Kind.RATE_CHANGE: "rate change",
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


def format_value(metric: str, value: float) -> str:
    """A value as a person reads it: ``"12,345"``, ``"3.40%"`` for CTR, ``"4.2"`` for position."""
    if math.isnan(value):
        return "n/a"
    if metric in RATE_METRICS:
        return f"{value * 100:.2f}%"
    if metric == "position":
        return f"{value:.1f}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_relative(change: float) -> str:
    """A relative change as a signed percentage: ``"-98%"``, ``"+4.5%"``, ``"new"`` (from zero)."""
    if math.isinf(change):
        return "new"
    pct = change * 100
    return f"{pct:+.1f}%" if abs(pct) < 10 else f"{pct:+,.0f}%"


def format_change(anomaly: Anomaly) -> str:
    """Signed relative change against expectation: ``"-98%"``, ``"+4.5%"``, ``"new"`` (from zero)."""
    return format_relative(anomaly.change)


def decomposition_line(finding: Finding) -> str:
    """Which factor of a product metric drove the change, the driver first (raw text):
    ``"Driven by CTR (-37%); impressions -5%"`` on a clicks finding, ``"Clicks -57%, driven
    by CTR (-53%); impressions -6%"`` on a finding of the factor that drove it; ``""``
    without a decomposition to tell (:attr:`jobs.domain.Finding.drivers`)."""
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


def subject_line(digest: Digest, *, limit: int = 150) -> str:
    """``"3 changes on shop: key events down 98%, sessions down 41%, ..."`` (one change per
    incident), ``"Alert on shop: key events down 100%"`` for an immediate alert, or
    ``"All quiet on shop for D"`` / ``"Nothing new on shop for D"`` (only ongoing problems);
    a follow-up with a property's late data starts with ``"Follow-up: "``."""
    if "/follow-up/" in digest.subscription:
        return clean("Follow-up: " + _subject(digest, limit=limit), limit=limit)
    return _subject(digest, limit=limit)


def _subject(digest: Digest, *, limit: int) -> str:
    where = properties_label(digest)
    leads = [i.lead for i in incidents_of(digest)]
    n = len(leads)
    if n == 0:
        quiet = "Nothing new" if digest.held_back or digest.ongoing else "All quiet"
        return f"{quiet} on {where} for {digest.data_date.isoformat()}"
    if digest.immediate:
        more = f" (+{n - 1} more)" if n > 1 else ""
        return clean(f"Alert on {where}: {finding_phrase(leads[0])}{more}", limit=limit)
    head = f"{n} change{'s' if n != 1 else ''} on {where}: "
    phrases = [finding_phrase(f) for f in leads[:2]]
    text = head + ", ".join(phrases) + (", ..." if n > 2 else "")  # ASCII: "…" folds badly in headers
    return clean(text, limit=limit)


@dataclass(frozen=True, slots=True)
class ContributorFacts:
    label: str
    actual: str
    expected: str
    share: str


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """One finding as display strings (raw: escape before putting them in markup)."""

    title: str  # "Key events down 98% on Landing page /pricing"
    property: str
    metric: str
    series: str
    kind: str
    severity: str
    actual: str
    expected: str
    interval: str
    change: str
    contributors: tuple[ContributorFacts, ...]
    more_contributors: int
    finding_id: int | None
    decomposition: str = ""  # "Clicks -57%, driven by CTR (-53%); impressions -6%"


def finding_facts(finding: Finding) -> FindingFacts:
    """The facts every renderer shows for ``finding``, in the same words."""
    a = finding.anomaly
    phrase = finding_phrase(finding)
    contributors = tuple(
        ContributorFacts(
            label=pretty_series(c.series),
            actual=format_value(a.metric, c.observed),
            expected=format_value(a.metric, c.expected),
            share=f"{c.share * 100:.0f}%",
        )
        for c in finding.contributors[:MAX_CONTRIBUTORS]
    )
    return FindingFacts(
        title=phrase[:1].upper() + phrase[1:],
        property=clean(a.property, limit=80),
        metric=pretty_metric(a.metric),
        series=pretty_series(a.series),
        kind=_KINDS.get(a.kind, a.kind.value.replace("_", " ")),
        severity=finding.severity.value,
        actual=format_value(a.metric, a.observed),
        expected=format_value(a.metric, a.expected),
        interval=f"{format_value(a.metric, a.lower)} – {format_value(a.metric, a.upper)}",
        change=format_change(a),
        contributors=contributors,
        more_contributors=max(0, len(finding.contributors) - MAX_CONTRIBUTORS),
        finding_id=finding.id,
        decomposition=decomposition_line(finding),
    )


def collapse_of(finding: Finding) -> str:
    """What an outage is called where it suppresses others: ``"the tracking break of key events
    on shop"`` (a total) or ``"the collapse of impressions of Page /x on shop-search"``."""
    if finding.anomaly.kind is not Kind.OUTAGE:
        return finding_subject(finding)
    what = "the tracking break" if finding.anomaly.series == TOTAL_SERIES else "the collapse"
    return f"{what} of {finding_subject(finding)}"


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """One incident as display strings (raw: escape before putting them in markup)."""

    lead: FindingFacts
    parts: tuple[FindingFacts, ...]  # at most MAX_PARTS
    more_parts: int
    severity: str
    note: str
    suppressed: tuple[str, ...]  # "key events down 60% on Channel Email (shop)"
    suppressed_because: str  # "the tracking break of key events on shop"
    related: str  # "with total users down 38% and 1 more", "" without parts


def incident_facts(incident: Incident) -> IncidentFacts:
    """The facts every renderer shows for ``incident``, in the same words."""
    parts = tuple(finding_facts(f) for f in incident.parts[:MAX_PARTS])
    related = ""
    if parts:
        first = finding_phrase(incident.parts[0])
        n = len(incident.parts)
        related = f"with {first}" + (f" and {n - 1:,} more" if n > 1 else "")
    suppressed = [clean(f"{finding_phrase(f)} ({f.anomaly.property})", limit=300) for f in incident.suppressed]
    if len(suppressed) > MAX_SUPPRESSED:
        suppressed[MAX_SUPPRESSED:] = [f"and {len(suppressed) - MAX_SUPPRESSED:,} more"]
    return IncidentFacts(
        lead=finding_facts(incident.lead),
        parts=parts,
        more_parts=len(incident.parts) - len(parts),
        severity=incident.severity.value,
        note=clean(incident.note[:1].upper() + incident.note[1:], limit=500),
        suppressed=tuple(suppressed),
        suppressed_because=collapse_of(incident.lead),
        related=clean(related, limit=300),
    )


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


def held_back_lines(digest: Digest, *, limit: int = 50) -> tuple[str, ...]:
    """One raw line per held-back finding, ``limit`` at most (then "and N more")."""
    lines = [
        clean(f"{finding_phrase(h.finding)} ({h.finding.anomaly.property}): {h.reason}", limit=400)
        for h in digest.held_back[:limit]
    ]
    if len(digest.held_back) > limit:
        lines.append(f"and {len(digest.held_back) - limit} more")
    return tuple(lines)
