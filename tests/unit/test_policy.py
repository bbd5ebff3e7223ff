"""Which findings a subscription hears about, and in what order."""

from __future__ import annotations

from alerts.policy import select_findings
from jobs.domain import Severity
from tests.fakes import finding


def test_findings_below_the_floor_are_dropped() -> None:
    low = finding(severity=Severity.LOW)
    medium = finding(severity=Severity.MEDIUM, metric="keyEvents")
    assert select_findings([low, medium], min_severity=Severity.MEDIUM) == (medium,)


def test_order_is_severity_then_size_of_the_change() -> None:
    small_high = finding(severity=Severity.HIGH, observed=900, expected=1000)
    big_high = finding(severity=Severity.HIGH, observed=100, expected=1000, metric="keyEvents")
    critical = finding(severity=Severity.CRITICAL, observed=950, expected=1000, metric="clicks")
    from_zero = finding(severity=Severity.HIGH, observed=50, expected=0, metric="impressions")
    picked = select_findings([small_high, big_high, critical, from_zero], min_severity=Severity.LOW)
    assert picked == (critical, from_zero, big_high, small_high)


def test_ties_put_the_total_before_its_children() -> None:
    child = finding(series="landingPage:/a")
    total = finding()
    assert select_findings([child, total], min_severity=Severity.LOW) == (total, child)


def test_nothing_in_nothing_out() -> None:
    assert select_findings([], min_severity=Severity.LOW) == ()
