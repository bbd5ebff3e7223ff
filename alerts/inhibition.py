"""Inhibition: a tracking break suppresses the alerts it causes.

When a metric's tracking breaks (an ``outage`` finding: the count collapsed to near
zero), the metrics computed from it fall too. Those falls are consequences, not news: the
outage *inhibits* them, and the digest lists them under the outage as "suppressed
because ..." instead of alerting on each.

An outage of metric ``M`` on series ``S`` (property ``P``, day ``D``) inhibits every other
finding on ``P`` and ``D`` that

* is on a metric downstream of ``M`` (:data:`DOWNSTREAM`) or on ``M`` itself, and
* is on any series when ``S`` is the total, else on ``S`` only, and
* points down, or is a rate (a rate moves either way when its numerator or its
  denominator stops being counted).

Outages are considered upstream first (sessions before users before key events, totals
before children), and an outage that is itself inhibited inhibits nothing, so two
outages never suppress each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from jobs.domain import RATE_METRICS, TOTAL_SERIES, Direction, Finding, Kind

__all__ = ["DOWNSTREAM", "RATE_METRICS", "Inhibition", "finding_key", "inhibit"]

# RATE_METRICS (from jobs.domain): a broken numerator or denominator moves them either way.
_KEY_RATES = frozenset({"sessionKeyEventRate", "userKeyEventRate", "keyEventRate"})
_CONVERSION_RATES = frozenset({"sessionConversionRate", "userConversionRate", "conversionRate"})
_EVENTS = frozenset({"keyEvents", "conversions"}) | _KEY_RATES | _CONVERSION_RATES
_PER_SESSION = frozenset({"engagementRate", "bounceRate", "engagedSessions", "screenPageViews", "eventCount"})

#: Metric -> the metrics that fall when its tracking breaks (no tag, no session, no event).
DOWNSTREAM: Mapping[str, frozenset[str]] = {
    "sessions": frozenset({"totalUsers", "activeUsers", "newUsers"}) | _EVENTS | _PER_SESSION,
    "totalUsers": frozenset({"activeUsers", "newUsers"}) | _EVENTS,
    "activeUsers": frozenset({"newUsers"}) | _EVENTS,
    "eventCount": _EVENTS,
    "keyEvents": frozenset({"conversions"}) | _KEY_RATES | _CONVERSION_RATES,
    "conversions": frozenset({"keyEvents"}) | _KEY_RATES | _CONVERSION_RATES,
    "impressions": frozenset({"clicks", "ctr"}),
    "clicks": frozenset({"ctr"}),
}
_UPSTREAM_RANK = {"sessions": 0, "impressions": 0, "totalUsers": 1, "activeUsers": 1, "clicks": 1, "eventCount": 2}

FindingKey = tuple[date, str]


def finding_key(finding: Finding) -> FindingKey:
    """Identifies a finding within one plan: its day and dedupe key."""
    return (finding.anomaly.day, finding.dedupe_key)


@dataclass(frozen=True, slots=True)
class Inhibition:
    """The outcome: the findings that stay, and each suppressed finding with its outage."""

    kept: tuple[Finding, ...]
    suppressed: tuple[tuple[Finding, Finding], ...]  # (suppressed finding, the outage behind it)
    by_inhibitor: Mapping[FindingKey, tuple[Finding, ...]]

    def under(self, inhibitor: Finding) -> tuple[Finding, ...]:
        """The findings ``inhibitor`` suppressed, in input order."""
        return self.by_inhibitor.get(finding_key(inhibitor), ())


def _causes(outage: Finding, other: Finding) -> bool:
    o, a = outage.anomaly, other.anomaly
    if (a.property, a.day) != (o.property, o.day) or other.dedupe_key == outage.dedupe_key:
        return False
    if a.metric != o.metric and a.metric not in DOWNSTREAM.get(o.metric, frozenset()):
        return False
    if o.series not in (TOTAL_SERIES, a.series):
        return False
    return a.direction is Direction.DOWN or a.metric in RATE_METRICS


def _upstream_first(finding: Finding) -> tuple[bool, int, str]:
    a = finding.anomaly
    return (a.series != TOTAL_SERIES, _UPSTREAM_RANK.get(a.metric, 3), finding.dedupe_key)


def inhibit(findings: Sequence[Finding]) -> Inhibition:
    """Split ``findings`` into those that stay and those an outage among them explains."""
    keys = [finding_key(f) for f in findings]
    outages = sorted((f for f in findings if f.anomaly.kind is Kind.OUTAGE), key=_upstream_first)
    suppressed_by: dict[FindingKey, Finding] = {}
    for outage in outages:
        if finding_key(outage) in suppressed_by:
            continue  # an inhibited outage inhibits nothing
        for key, other in zip(keys, findings, strict=True):
            if key not in suppressed_by and _causes(outage, other):
                suppressed_by[key] = outage
    kept = tuple(f for key, f in zip(keys, findings, strict=True) if key not in suppressed_by)
    pairs = tuple((f, suppressed_by[key]) for key, f in zip(keys, findings, strict=True) if key in suppressed_by)
    grouped: dict[FindingKey, list[Finding]] = {}
    for f, by in pairs:
        grouped.setdefault(finding_key(by), []).append(f)
    return Inhibition(kept=kept, suppressed=pairs, by_inhibitor={k: tuple(v) for k, v in grouped.items()})
