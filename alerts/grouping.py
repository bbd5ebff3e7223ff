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
4. both are breakdown children of the same metric, dimension and kind, neither is an
   outage, and they moved by about the same proportion (observed/expected within
   :data:`SAME_CHANGE` of each other): many pages or queries moving together. Two queries
   that merely both fell ("shoe size guide" -78%, "running shoes women" -35%) stay apart;
5. both are breakdown children of the same metric in different dimensions, neither an
   outage, with observed and expected values within 10% of each other: the same
   traffic seen through two breakdowns (a query and the one page it lands on).

Joins are transitive (union-find). Within an incident the lead is a total if there is
one, then the most severe, then the most basic metric (sessions before users before key
events; clicks before impressions), then the largest change; incidents are ordered by
severity, then by the size of their lead's change. The result does not depend on input order.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

from alerts.ranking import impact, rank_key
from jobs.domain import TOTAL_SERIES, Finding, Incident, Kind

__all__ = ["group_incidents", "related"]


#: Rule 5: how close two children's observed and expected values must be to count as the same traffic.
SAME_TRAFFIC = 0.10
#: Rule 4: how close two children's observed/expected ratios must be to count as one movement.
SAME_CHANGE = 0.15


def _ratio(finding: Finding) -> float:
    a = finding.anomaly
    return a.observed / a.expected if a.expected else float("inf")


def _same_change(a: Finding, b: Finding) -> bool:
    x, y = _ratio(a), _ratio(b)
    return x == y or abs(x - y) <= SAME_CHANGE


def _dimension(series: str) -> str:
    return series.partition(":")[0]


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= SAME_TRAFFIC * max(abs(x), abs(y))


def related(a: Finding, b: Finding) -> bool:
    """Whether ``a`` and ``b`` share a cause by the rules in the module docstring."""
    x, y = a.anomaly, b.anomaly
    if (x.property, x.day, x.direction) != (y.property, y.day, y.direction):
        return False
    x_total, y_total = x.series == TOTAL_SERIES, y.series == TOTAL_SERIES
    if x_total and y_total:
        return (x.kind is Kind.OUTAGE) == (y.kind is Kind.OUTAGE)
    if not x_total and not y_total:
        return _children_related(a, b)
    total, child = (a, b) if x_total else (b, a)
    if total.anomaly.kind is Kind.OUTAGE and total.anomaly.metric != child.anomaly.metric:
        return False
    return any(c.series == child.anomaly.series for c in total.contributors)


def _children_related(a: Finding, b: Finding) -> bool:
    x, y = a.anomaly, b.anomaly
    if x.series == y.series:
        return True
    if Kind.OUTAGE in (x.kind, y.kind) or x.metric != y.metric:
        return False
    if _dimension(x.series) == _dimension(y.series):
        return x.kind is y.kind and _same_change(a, b)
    return _close(x.observed, y.observed) and _close(x.expected, y.expected)


#: Which metric leads an incident of equally severe totals: the volume people think in first.
_PRIMARY = ("sessions", "clicks", "totalUsers", "activeUsers", "impressions", "screenPageViews", "keyEvents")


def _lead_key(finding: Finding) -> tuple[bool, int, int, float, str]:
    a = finding.anomaly
    primary = _PRIMARY.index(a.metric) if a.metric in _PRIMARY else len(_PRIMARY)
    return (a.series != TOTAL_SERIES, -finding.severity.rank, primary, -impact(finding), finding.dedupe_key)


class _Groups:
    """Union-find over the positions of ``findings``, joined by the rules of :func:`related`
    through indexes (linear time, not pairwise)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = findings
        self.parent = list(range(len(findings)))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        ri, rj = self.root(i), self.root(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)

    def by_keys(self) -> tuple[dict[tuple[object, ...], list[int]], dict[tuple[object, ...], list[int]]]:
        """Rules 1 and 2, and rule 4 by proportion of change; returns the children by series and
        the non-outage children by metric."""
        first: dict[tuple[object, ...], int] = {}
        children: dict[tuple[object, ...], list[int]] = defaultdict(list)
        by_metric: dict[tuple[object, ...], list[int]] = defaultdict(list)
        moving: dict[tuple[object, ...], list[int]] = defaultdict(list)
        for i, f in enumerate(self.findings):
            a = f.anomaly
            where = (a.property, a.day, a.direction)
            outage = a.kind is Kind.OUTAGE
            if a.series == TOTAL_SERIES:
                keys: list[tuple[object, ...]] = [(*where, "totals", outage)]
            else:
                keys = [(*where, "series", a.series)]
                children[(*where, a.series)].append(i)
                if not outage:
                    moving[(*where, a.metric, _dimension(a.series), a.kind)].append(i)
                    by_metric[(*where, a.metric)].append(i)
            for key in keys:
                self.join(i, first.setdefault(key, i))
        for members in moving.values():  # rule 4: neighbours by ratio (the same components as all pairs)
            members.sort(key=lambda k: _ratio(self.findings[k]))
            for i, j in itertools.pairwise(members):
                if _same_change(self.findings[i], self.findings[j]):
                    self.join(i, j)
        return children, by_metric

    def by_contributors(self, children: dict[tuple[object, ...], list[int]]) -> None:
        """Rule 3: a total and the children it lists as contributors."""
        for i, total in enumerate(self.findings):
            a = total.anomaly
            if a.series != TOTAL_SERIES:
                continue
            for c in total.contributors:
                for j in children.get((a.property, a.day, a.direction, c.series), ()):
                    if a.kind is not Kind.OUTAGE or self.findings[j].anomaly.metric == a.metric:
                        self.join(i, j)

    def by_traffic(self, by_metric: dict[tuple[object, ...], list[int]]) -> None:
        """Rule 5: neighbours by observed value, then the full test."""
        for members in by_metric.values():
            members.sort(key=lambda k: self.findings[k].anomaly.observed)
            for n, i in enumerate(members):
                x = self.findings[i].anomaly
                for j in members[n + 1 :]:
                    y = self.findings[j].anomaly
                    if not _close(x.observed, y.observed):
                        break
                    if _dimension(x.series) != _dimension(y.series) and _close(x.expected, y.expected):
                        self.join(i, j)


def group_incidents(findings: Sequence[Finding]) -> tuple[Incident, ...]:
    """``findings`` as incidents (each finding in exactly one), most important first.

    Equivalent to joining every pair for which :func:`related` holds.
    """
    ordered = sorted(findings, key=rank_key)
    groups = _Groups(ordered)
    children, by_metric = groups.by_keys()
    groups.by_contributors(children)
    groups.by_traffic(by_metric)
    members: dict[int, list[Finding]] = defaultdict(list)
    for i, f in enumerate(ordered):
        members[groups.root(i)].append(f)
    incidents = []
    for group in members.values():
        lead = min(group, key=_lead_key)
        incidents.append(Incident(findings=(lead, *(f for f in group if f is not lead))))  # rest in rank order
    incidents.sort(key=lambda inc: (-inc.severity.rank, *rank_key(inc.lead)[1:]))
    return tuple(incidents)
