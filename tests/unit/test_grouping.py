"""Grouping: findings that share a cause are one incident, never one alert each."""

from __future__ import annotations

import itertools
import random

from alerts.grouping import group_incidents, related
from jobs.domain import Contributor, Finding, Kind, Severity
from tests.fakes import finding

ORGANIC = "sessionDefaultChannelGroup:Organic Search"


def _site_wide_drop() -> list[Finding]:
    """What detection leaves of a site-wide drop: three totals and one child that stood out."""
    drivers = (
        Contributor(ORGANIC, 165.0, 499.0, 0.78),
        Contributor("sessionDefaultChannelGroup:Direct", 168, 226, 0.14),
    )
    return [
        finding(metric="sessions", observed=681, expected=1093, contributors=drivers),
        finding(metric="totalUsers", observed=543, expected=878, contributors=drivers),
        finding(metric="keyEvents", observed=30, expected=52, contributors=drivers),
        finding(metric="sessions", series=ORGANIC, observed=165, expected=499, severity=Severity.MEDIUM),
    ]


def test_a_site_wide_drop_is_one_incident_led_by_sessions() -> None:
    [incident] = group_incidents(_site_wide_drop())
    assert incident.lead.anomaly.metric == "sessions"
    assert incident.lead.anomaly.series == "total"
    assert [(f.anomaly.metric, f.anomaly.series) for f in incident.parts] == [
        ("keyEvents", "total"),  # high, -42%
        ("totalUsers", "total"),  # high, -38%
        ("sessions", ORGANIC),  # medium
    ]
    assert incident.severity is Severity.HIGH


def test_three_hundred_pages_dropping_together_are_one_incident() -> None:
    pages = [
        finding(series=f"landingPage:/p{i}", observed=10 + i % 7, expected=100 + i, severity=Severity.MEDIUM)
        for i in range(300)
    ]
    incidents = group_incidents(pages)
    assert len(incidents) == 1
    assert len(incidents[0].findings) == 300


def test_a_pages_clicks_and_impressions_are_one_incident() -> None:
    page = "page:https://shop.example/guides/sizing"
    clicks = finding(metric="clicks", series=page, observed=0, expected=252, kind=Kind.LEVEL_SHIFT)
    impressions = finding(metric="impressions", series=page, observed=13, expected=5918, kind=Kind.LEVEL_SHIFT)
    assert len(group_incidents([clicks, impressions])) == 1


def test_a_tracking_break_is_its_own_incident_next_to_a_traffic_drop() -> None:
    outage = finding(
        metric="keyEvents",
        observed=0,
        expected=52,
        kind=Kind.OUTAGE,
        severity=Severity.CRITICAL,
        contributors=(Contributor(ORGANIC, 0, 26, 0.5),),
    )
    drop = finding(metric="sessions", observed=681, expected=1093, contributors=(Contributor(ORGANIC, 165, 499, 0.8),))
    child = finding(metric="sessions", series=ORGANIC, observed=165, expected=499, severity=Severity.MEDIUM)
    incidents = group_incidents([drop, child, outage])
    assert [len(i.findings) for i in incidents] == [1, 2]
    assert incidents[0].lead is outage  # critical first


def test_moves_in_opposite_directions_or_on_other_properties_stay_apart() -> None:
    down = finding(metric="sessions", observed=600, expected=1000)
    up = finding(metric="totalUsers", observed=1600, expected=1000, severity=Severity.MEDIUM)
    elsewhere = finding(metric="totalUsers", observed=600, expected=1000, property="blog")
    assert len(group_incidents([down, up, elsewhere])) == 3


def test_the_same_traffic_seen_through_two_breakdowns_is_one_incident_but_unrelated_pages_are_not() -> None:
    query = finding(metric="clicks", series="query:running shoes", observed=113, expected=250)
    its_page = finding(metric="clicks", series="page:https://shop.example/shoes/running", observed=115, expected=262)
    other = finding(metric="clicks", series="query:gym shoes", observed=40, expected=90, kind=Kind.LEVEL_SHIFT)
    incidents = group_incidents([query, its_page, other])
    assert sorted(len(i.findings) for i in incidents) == [1, 2]


def test_the_result_does_not_depend_on_input_order_and_matches_the_pairwise_rule() -> None:
    findings = [
        *_site_wide_drop(),
        finding(metric="clicks", series="query:a", observed=10, expected=100, property="search"),
        finding(metric="clicks", series="page:/a", observed=10.5, expected=104, property="search"),
        finding(metric="impressions", series="page:/a", observed=5, expected=900, property="search"),
        finding(metric="clicks", series="query:b", observed=300, expected=100, property="search", kind=Kind.SPIKE),
    ]
    expected = group_incidents(findings)
    rng = random.Random(4)
    for _ in range(5):
        shuffled = findings[:]
        rng.shuffle(shuffled)
        assert group_incidents(shuffled) == expected
    assert [len(i.findings) for i in expected] == [1, 3, 4]  # the +200% spike first, then by size of change
    # the incidents are exactly the connected components of the pairwise rule
    parent = {id(f): id(f) for f in findings}

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in itertools.combinations(findings, 2):
        if related(a, b):
            parent[root(id(a))] = root(id(b))
    components = sorted(sorted(id(f) for f in findings if root(id(f)) == r) for r in {root(id(f)) for f in findings})
    assert components == sorted(sorted(id(f) for f in inc.findings) for inc in expected)


def test_two_queries_that_merely_both_fell_are_separate_incidents() -> None:
    guide = finding(metric="impressions", series="query:shoe size guide", observed=562, expected=2540)
    women = finding(metric="impressions", series="query:running shoes women", observed=1300, expected=2000)
    similar = finding(metric="impressions", series="query:shoe size chart", observed=400, expected=1900)
    incidents = group_incidents([guide, women, similar])
    assert sorted(len(i.findings) for i in incidents) == [1, 2]
    [alone] = [i for i in incidents if len(i.findings) == 1]
    assert alone.lead.anomaly.series == "query:running shoes women"
