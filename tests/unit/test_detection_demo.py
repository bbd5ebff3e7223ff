"""Detection with default parameters on the demo: the planted incidents, and quiet otherwise."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from jobs.detection import build_panels, detect, detect_range, finding_to_json
from jobs.detection.params import DetectionParams
from jobs.domain import TOTAL_SERIES, Finding, Kind, MetricPanel, Observation, PropertySpec, Severity
from jobs.sources.demo import DemoSource

ANCHOR = date(2024, 5, 15)
SIZING = "page:https://shop.example/guides/sizing"


@pytest.fixture(scope="module")
def panels() -> tuple[MetricPanel, ...]:
    source = DemoSource(anchor=ANCHOR)
    obs: list[Observation] = []
    for name, flavour in (("shop", "ga4"), ("search", "gsc")):
        spec = PropertySpec(name=name, source="demo", id=flavour)
        obs.extend(source.fetch(spec, start=ANCHOR - timedelta(days=149), end=ANCHOR + timedelta(days=3)))
    return build_panels(obs)


@pytest.fixture(scope="module")
def on_anchor(panels: tuple[MetricPanel, ...]) -> tuple[Finding, ...]:
    return detect(panels, DetectionParams(), day=ANCHOR)


def _find(findings: tuple[Finding, ...], prop: str, series: str, metric: str) -> Finding:
    hits = [f for f in findings if (f.anomaly.property, f.anomaly.series, f.anomaly.metric) == (prop, series, metric)]
    assert len(hits) == 1, f"{prop} {series} {metric}: {[finding_to_json(f) for f in findings]}"
    return hits[0]


def test_site_wide_drop_is_high_and_names_organic_search_first(on_anchor: tuple[Finding, ...]) -> None:
    f = _find(on_anchor, "shop", TOTAL_SERIES, "sessions")
    assert (f.anomaly.kind, f.severity) == (Kind.DROP, Severity.HIGH)
    assert f.anomaly.change < -0.3
    assert f.anomaly.lower <= f.anomaly.expected <= f.anomaly.upper
    assert f.anomaly.observed < f.anomaly.lower
    top = f.contributors[0]
    assert top.series == "sessionDefaultChannelGroup:Organic Search"
    assert top.share > 0.5
    channels = [c for c in f.contributors if c.series.startswith("sessionDefaultChannelGroup:")]
    assert 0.9 <= sum(c.share for c in channels) <= 1.0 + 1e-9
    assert all(c.observed < c.expected for c in f.contributors)


def test_tracking_break_is_a_critical_outage(on_anchor: tuple[Finding, ...]) -> None:
    f = _find(on_anchor, "shop", TOTAL_SERIES, "keyEvents")
    assert (f.anomaly.kind, f.severity) == (Kind.OUTAGE, Severity.CRITICAL)
    assert f.anomaly.observed < 0.05 * f.anomaly.expected
    assert on_anchor[0] is f  # the most severe comes first
    # its children collapsed with it: they explain it and are not alerts of their own
    assert not [g for g in on_anchor if g.anomaly.metric == "keyEvents" and g.anomaly.series != TOTAL_SERIES]


def test_landing_page_spike_is_found(on_anchor: tuple[Finding, ...]) -> None:
    f = _find(on_anchor, "shop", "landingPage:/blog/launch", "sessions")
    assert f.anomaly.kind is Kind.SPIKE
    assert f.anomaly.observed > 2 * f.anomaly.expected
    assert f.anomaly.q_value is not None
    assert f.anomaly.q_value < 0.01


def test_deindexed_page_is_one_level_shift(on_anchor: tuple[Finding, ...], panels: tuple[MetricPanel, ...]) -> None:
    f = _find(on_anchor, "search", SIZING, "impressions")
    assert (f.anomaly.kind, f.severity) == (Kind.LEVEL_SHIFT, Severity.HIGH)
    # its clicks went with the impressions (CTR did not explain them): both findings say so
    clicks = _find(on_anchor, "search", SIZING, "clicks")
    assert clicks.decomposition is not None
    assert clicks.decomposition.driver.name == "impressions"
    assert f.decomposition is not None
    assert f.decomposition.metric == "clicks"
    assert f.decomposition.driver.name == "impressions"
    assert f.decomposition.change < -0.9
    # the two days before were collapses at the time (an outage of that page's counts);
    # on the third day it is named a level shift, once
    earlier = detect_range(panels, DetectionParams(), start=ANCHOR - timedelta(days=2), end=ANCHOR + timedelta(days=0))
    kinds = sorted((g.anomaly.day, g.anomaly.metric, g.anomaly.kind) for g in earlier if g.anomaly.series == SIZING)
    assert kinds == [
        (ANCHOR - timedelta(days=2), "clicks", Kind.OUTAGE),
        (ANCHOR - timedelta(days=2), "impressions", Kind.OUTAGE),
        (ANCHOR - timedelta(days=1), "clicks", Kind.OUTAGE),
        (ANCHOR - timedelta(days=1), "impressions", Kind.OUTAGE),
        (ANCHOR, "clicks", Kind.LEVEL_SHIFT),
        (ANCHOR, "impressions", Kind.LEVEL_SHIFT),
    ]


def test_ctr_drop_with_stable_impressions_is_a_rate_change(on_anchor: tuple[Finding, ...]) -> None:
    f = _find(on_anchor, "search", "query:running shoes", "ctr")
    assert f.anomaly.kind is Kind.RATE_CHANGE
    assert f.anomaly.change < -0.4
    assert not [g for g in on_anchor if g.anomaly.series == "query:running shoes" and g.anomaly.metric == "impressions"]


def test_findings_are_ordered_and_explain_themselves(on_anchor: tuple[Finding, ...]) -> None:
    ranks = [f.severity.rank for f in on_anchor]
    assert ranks == sorted(ranks, reverse=True)
    for f in on_anchor:
        assert f.anomaly.day == ANCHOR
        chart = f.chart
        assert chart is not None
        assert len(chart.dates) == 56
        assert chart.dates[-1] == ANCHOR
        assert chart.actual[-1] == f.anomaly.observed
        assert chart.expected[-1] == pytest.approx(f.anomaly.expected)
        assert sum(math.isfinite(x) for x in chart.upper) > 40


def test_finding_json_has_the_detect_output_keys(on_anchor: tuple[Finding, ...]) -> None:
    total = finding_to_json(_find(on_anchor, "shop", TOTAL_SERIES, "keyEvents"))
    assert set(total) == {
        "property", "series", "metric", "date", "direction", "value", "expected", "lower", "upper",
        "p_value", "kind", "severity", "decomposition",
    }  # fmt: skip
    # the tag broke, the visits did not: the conversion rate drove the key events to zero
    assert total["decomposition"]["driver"] == "conversion rate"  # type: ignore[index]
    assert total["decomposition"]["factors"]["conversion rate"] == -1.0  # type: ignore[index]
    assert (total["date"], total["direction"], total["kind"], total["severity"]) == (
        "2024-05-15",
        "down",
        "outage",
        "critical",
    )
    child = finding_to_json(_find(on_anchor, "shop", "landingPage:/blog/launch", "sessions"))
    assert child["direction"] == "up"
    assert isinstance(child["q_value"], float)


def test_older_incidents_are_found_for_backtests(panels: tuple[MetricPanel, ...]) -> None:
    email = detect(panels, DetectionParams(), day=ANCHOR - timedelta(days=45))
    assert _find(email, "shop", "sessionDefaultChannelGroup:Email", "sessions").anomaly.kind is Kind.SPIKE
    paid = detect(panels, DetectionParams(), day=ANCHOR - timedelta(days=80))
    assert _find(paid, "shop", "sessionDefaultChannelGroup:Paid Search", "sessions").anomaly.kind is Kind.DROP


def test_few_false_alarms_on_four_clean_weeks(panels: tuple[MetricPanel, ...]) -> None:
    # 29 clean days x ~300 tests a day (7 metrics, totals and 25-ish children each);
    # measured: 10 findings with seed 7 and these names (2-10 with others)
    clean = detect_range(panels, DetectionParams(), start=ANCHOR - timedelta(days=31), end=ANCHOR - timedelta(days=3))
    assert len(clean) <= 12, [finding_to_json(f) for f in clean]
    assert not [f for f in clean if f.severity.at_least(Severity.HIGH)]


def test_nothing_is_reported_for_days_google_is_still_counting(panels: tuple[MetricPanel, ...]) -> None:
    assert detect(panels, DetectionParams(), day=ANCHOR + timedelta(days=1)) == ()
    delayed = DetectionParams().with_metric("keyEvents", detection_delay_days=1)
    assert not [f for f in detect(panels, delayed, day=ANCHOR) if f.anomaly.metric == "keyEvents"]
