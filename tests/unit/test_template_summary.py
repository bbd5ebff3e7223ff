"""The deterministic summary: numbers straight from the findings, nothing invented."""

from __future__ import annotations

from datetime import date

from jobs.domain import Anomaly, Contributor, Direction, Finding, Kind, Severity
from jobs.naming import series_label
from jobs.summary.template import TemplateSummariser

DAY = date(2026, 5, 18)


def _finding(metric: str, series: str, observed: float, expected: float, kind: Kind) -> Finding:
    anomaly = Anomaly(
        "shop",
        series,
        metric,
        DAY,
        observed,
        expected,
        expected * 0.8,
        expected * 1.2,
        1e-9,
        None,
        Direction.DOWN if observed < expected else Direction.UP,
        kind,
    )
    return Finding(anomaly, Severity.HIGH, (Contributor("sessionDefaultChannelGroup:Organic Search", 300, 1000, 0.82),))


def test_summary_is_a_lead_of_three_short_sentences_in_plain_words() -> None:
    findings = [
        _finding("keyEvents", "total", 2, 180, Kind.OUTAGE),
        _finding("sessions", "total", 1200, 2000, Kind.DROP),
        _finding("clicks", "query:shoes", 3, 9, Kind.DROP),
    ]
    summary = TemplateSummariser(properties=["shop"]).summarise(findings, data_date=DAY)
    assert summary.summariser == "template"
    assert summary.headline == "3 changes on shop: key events down 99%, sessions down 40%"
    assert summary.text == (
        "3 changes on shop. The biggest: key events tracking stopped on shop (2 instead of about 180). "
        "Next: sessions fell 40% on shop (1,200 instead of about 2,000)."
    )


def test_tiny_counts_get_no_percentage_in_the_lead() -> None:
    summary = TemplateSummariser(properties=["shop"]).summarise(
        [_finding("clicks", "query:shoes", 3, 9, Kind.DROP)], data_date=DAY
    )
    assert summary.text == "1 change on shop. Clicks for query 'shoes' fell on shop (3 instead of about 9)."


def test_all_quiet() -> None:
    summary = TemplateSummariser(properties=["shop", "blog"]).summarise([], data_date=DAY)
    assert summary.headline == "All quiet on shop, blog for 2026-05-18"


def test_series_labels() -> None:
    assert series_label("total") == "all traffic"
    assert series_label("landingPage:/pricing") == "landing page /pricing"
    assert series_label("query:running shoes") == "query 'running shoes'"
    assert series_label("weird") == "weird"
