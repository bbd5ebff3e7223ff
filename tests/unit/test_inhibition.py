"""Inhibition: a tracking break suppresses the drops it causes, and says so."""

from __future__ import annotations

from alerts.inhibition import inhibit
from jobs.domain import Finding, Kind, Severity
from tests.fakes import finding


def _outage(metric: str, series: str = "total", property: str = "shop") -> Finding:
    return finding(
        metric=metric,
        series=series,
        observed=0,
        expected=200,
        kind=Kind.OUTAGE,
        severity=Severity.CRITICAL,
        property=property,
    )


def test_a_key_events_outage_suppresses_conversion_rate_and_child_key_event_drops_but_not_sessions() -> None:
    outage = _outage("keyEvents")
    rate = finding(metric="sessionKeyEventRate", observed=0.001, expected=0.04)
    child = finding(metric="keyEvents", series="landingPage:/checkout", observed=0, expected=150)
    conversions = finding(metric="conversions", observed=1, expected=60)
    sessions = finding(metric="sessions", observed=600, expected=1000)
    result = inhibit([outage, rate, child, conversions, sessions])
    assert result.kept == (outage, sessions)
    assert result.under(outage) == (rate, child, conversions)


def test_a_sessions_outage_suppresses_key_event_drops_on_the_same_property_and_day_only() -> None:
    outage = _outage("sessions")
    key_events = finding(metric="keyEvents", observed=2, expected=50)
    users = finding(metric="totalUsers", observed=3, expected=800)
    elsewhere = finding(metric="keyEvents", observed=2, expected=50, property="blog")
    result = inhibit([key_events, users, elsewhere, outage])
    assert result.kept == (elsewhere, outage)
    assert [f for f, _ in result.suppressed] == [key_events, users]


def test_a_rate_moving_up_is_suppressed_but_a_count_moving_up_is_not() -> None:
    outage = _outage("sessions")
    rate_up = finding(metric="sessionKeyEventRate", observed=0.5, expected=0.04)  # denominator gone
    spike = finding(metric="keyEvents", observed=500, expected=50, kind=Kind.SPIKE)
    result = inhibit([outage, rate_up, spike])
    assert result.kept == (outage, spike)


def test_a_child_outage_suppresses_only_its_own_series() -> None:
    page = "page:https://shop.example/guides/sizing"
    outage = _outage("impressions", series=page, property="search")
    clicks_same = finding(metric="clicks", series=page, observed=0, expected=250, property="search")
    clicks_other = finding(metric="clicks", series="page:/other", observed=10, expected=250, property="search")
    result = inhibit([outage, clicks_same, clicks_other])
    assert result.kept == (outage, clicks_other)


def test_two_outages_never_suppress_each_other_the_upstream_one_wins() -> None:
    key_events, conversions, sessions = _outage("keyEvents"), _outage("conversions"), _outage("sessions")
    result = inhibit([key_events, conversions, sessions])
    assert result.kept == (sessions,)
    assert result.under(sessions) == (key_events, conversions)
    result = inhibit([conversions, key_events])
    assert len(result.kept) == 1
