"""The deterministic summary: numbers straight from the findings, nothing invented."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from jobs.domain import Anomaly, Contributor, Decomposition, Direction, Factor, Finding, Kind, Severity
from jobs.naming import series_label
from jobs.summary.template import TemplateSummariser
from tests.fakes import CLICKS_BY_CTR, DATA_DATE, finding

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


def test_summary_states_the_facts_of_each_finding() -> None:
    findings = [
        _finding("keyEvents", "total", 2, 180, Kind.OUTAGE),
        _finding("sessions", "total", 1200, 2000, Kind.DROP),
    ]
    summary = TemplateSummariser(properties=["shop"]).summarise(findings, data_date=DAY)
    assert summary.summariser == "template"
    assert summary.headline == "2 changes on shop: key events down 99%, sessions down 40%"
    assert (
        "Key events on shop collapsed to near zero (possible tracking break): 2 against an expected 180" in summary.text
    )
    assert "Sessions on shop down 40%: 1,200 against an expected 2,000 (usual range 1,600–2,400) on 2026-05-18." in (
        summary.text
    )
    assert "channel Organic Search (82% of the change)" in summary.text


def test_all_quiet() -> None:
    summary = TemplateSummariser(properties=["shop", "blog"]).summarise([], data_date=DAY)
    assert summary.headline == "All quiet on shop, blog for 2026-05-18"


def test_series_labels() -> None:
    assert series_label("total") == "all traffic"
    assert series_label("landingPage:/pricing") == "landing page /pricing"
    assert series_label("query:running shoes") == "query 'running shoes'"
    assert series_label("weird") == "weird"


def test_the_top_findings_say_which_factor_drove_a_product_metric() -> None:
    ctr = CLICKS_BY_CTR.factors[1]
    by_ctr = finding(
        metric="ctr", series="query:running shoes", observed=ctr.observed, expected=ctr.expected, kind=Kind.RATE_CHANGE
    )
    clicks = finding(metric="clicks", series="query:trail", observed=113.0, expected=263.34)
    conversion_break = Decomposition(
        "keyEvents", 0.0, 51.8, (Factor("sessions", 681.0, 1093.0), Factor("conversion rate", 0.0, 0.0474))
    )
    sessions = finding(observed=681.0, expected=1093.0, decomposition=conversion_break)
    findings = [
        replace(by_ctr, decomposition=CLICKS_BY_CTR),
        replace(clicks, decomposition=CLICKS_BY_CTR),
        sessions,
        *(replace(by_ctr, decomposition=CLICKS_BY_CTR) for _ in range(3)),
    ]
    text = TemplateSummariser(properties=["shop"]).summarise(findings, data_date=DATA_DATE).text
    # each sentence right after the finding it explains, in the numbers of that finding
    assert (
        "CTR on shop for query 'running shoes' down 54%: 0.95% against an expected 2.09% "
        "(usual range 1.77%–2.40%) on 2026-11-18. Clicks down 57%, driven by CTR (down 54%); impressions down 6%."
    ) in text
    assert "on 2026-11-18. Driven by CTR (down 54%); impressions down 6%." in text
    assert "conversion rate" not in text  # the sessions did not drive the key events
    assert text.count("driven by") + text.count("Driven by") == 4  # of the five findings it lists
