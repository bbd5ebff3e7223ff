"""Grouping: findings that share a cause become one incident.

Detection already folds the children that merely follow a flagged total into its
contributors. What is left for a day can still be one story told many times: sessions,
users and key events all down together; a page's clicks and impressions gone; a total
drop and the page that caused it; thirty landing pages falling at once. Grouping joins
findings on the same property, day and direction when

1. both are on the total and both are tracking outages, or neither is (several metrics
   moving together);
2. both are on the same breakdown series (one page, several metrics);
3. one is on the total and lists the other's series among its contributors (the drop
   and what drove it) — for an outage, only on the same metric;
4. both are breakdown children of the same metric and neither is an outage (many pages
   or queries moving together).

Joins are transitive (union-find). Within an incident the lead is a total if there is
one, then the most severe, then the most basic metric (sessions before users before key
events; clicks before impressions), then the largest change; incidents are ordered by
severity, then by the size of their lead's change. The result does not depend on input order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from alerts.ranking import impact, rank_key
from jobs.domain import TOTAL_SERIES, Finding, Incident, Kind

__all__ = ["group_incidents", "related"]


def related(a: Finding, b: Finding) -> bool:
    """Whether ``a`` and ``b`` share a cause by the rules in the module docstring."""
    x, y = a.anomaly, b.anomaly
    if (x.property, x.day, x.direction) != (y.property, y.day, y.direction):
        return False
    x_total, y_total = x.series == TOTAL_SERIES, y.series == TOTAL_SERIES
    x_out, y_out = x.kind is Kind.OUTAGE, y.kind is Kind.OUTAGE
    if x_total and y_total:
        return x_out == y_out
    if not x_total and not y_total:
        return x.series == y.series or (x.metric == y.metric and not x_out and not y_out)
    total, child = (a, b) if x_total else (b, a)
    if total.anomaly.kind is Kind.OUTAGE and total.anomaly.metric != child.anomaly.metric:
        return False
    return any(c.series == child.anomaly.series for c in total.contributors)


#: Which metric leads an incident of equally severe totals: the volume people think in first.
_PRIMARY = ("sessions", "clicks", "totalUsers", "activeUsers", "impressions", "screenPageViews", "keyEvents")


def _lead_key(finding: Finding) -> tuple[bool, int, int, float, str]:
    a = finding.anomaly
    primary = _PRIMARY.index(a.metric) if a.metric in _PRIMARY else len(_PRIMARY)
    return (a.series != TOTAL_SERIES, -finding.severity.rank, primary, -impact(finding), finding.dedupe_key)


def group_incidents(findings: Sequence[Finding]) -> tuple[Incident, ...]:
    """``findings`` as incidents (each finding in exactly one), most important first.

    Equivalent to joining every pair for which :func:`related` holds, in linear time:
    each rule is applied through an index instead of pairwise comparison.
    """
    ordered = sorted(findings, key=rank_key)
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first: dict[tuple[object, ...], int] = {}
    children: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, f in enumerate(ordered):
        a = f.anomaly
        where = (a.property, a.day, a.direction)
        outage = a.kind is Kind.OUTAGE
        if a.series == TOTAL_SERIES:
            keys: list[tuple[object, ...]] = [(*where, "totals", outage)]  # rule 1
        else:
            keys = [(*where, "series", a.series)]  # rule 2
            if not outage:
                keys.append((*where, "metric", a.metric))  # rule 4
            children[(*where, a.series)].append(i)
        for key in keys:
            join(i, first.setdefault(key, i))
    for i, total in enumerate(ordered):  # rule 3
        a = total.anomaly
        if a.series != TOTAL_SERIES:
            continue
        for c in total.contributors:
            for j in children.get((a.property, a.day, a.direction, c.series), ()):
                if a.kind is not Kind.OUTAGE or ordered[j].anomaly.metric == a.metric:
                    join(i, j)
    groups: dict[int, list[Finding]] = defaultdict(list)
    for i, f in enumerate(ordered):
        groups[root(i)].append(f)
    incidents = []
    for members in groups.values():
        lead = min(members, key=_lead_key)
        rest = [f for f in members if f is not lead]  # already in rank order
        incidents.append(Incident(findings=(lead, *rest)))
    incidents.sort(key=lambda inc: (-inc.severity.rank, *rank_key(inc.lead)[1:]))
    return tuple(incidents)
