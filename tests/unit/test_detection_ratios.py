"""Ratio decomposition and one finding per cause across metrics, series and days."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from alerts.grouping import group_incidents
from jobs.detection import noise
from jobs.detection.engine import detect, detect_range
from jobs.detection.explain import finding_to_json
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams
from jobs.domain import TOTAL_SERIES, Decomposition, Factor, Finding, Kind, MetricPanel
from tests.fakes import finding

END = date(2024, 6, 30)
N = 100
DATES = tuple(END - timedelta(days=N - 1 - i) for i in range(N))
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[[d.weekday() for d in DATES]]


def _counts(rng: np.random.Generator, level: np.ndarray, alpha: float = 0.005) -> np.ndarray:
    mean = level[:, None] * WEEKDAY[None, :]
    return np.asarray(rng.poisson(rng.gamma(1 / alpha, mean * alpha)), dtype=np.float64)


def _panel(metric: str, series: tuple[str, ...], values: np.ndarray) -> MetricPanel:
    return MetricPanel("p", metric, series, DATES, values, last_final=END)


def _by(found: tuple[Finding, ...]) -> dict[tuple[str, str], Finding]:
    return {(f.anomaly.series, f.anomaly.metric): f for f in found}


SERIES = (TOTAL_SERIES, "query:a", "query:b", "query:c")


def _search(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    impressions = _counts(rng, np.array([0.0, 8000.0, 5000.0, 3000.0]))
    clicks = rng.binomial(impressions.astype(np.int64), np.array([[0.05], [0.08], [0.04], [0.06]])).astype(float)
    impressions[0], clicks[0] = impressions[1:].sum(axis=0), clicks[1:].sum(axis=0)
    return impressions, clicks


def test_a_ctr_drop_is_a_rate_change_and_the_clicks_finding_says_ctr_drove_it() -> None:
    impressions, clicks = _search(np.random.default_rng(1))
    clicks[1, -1] = np.round(clicks[1, -1] * 0.4)  # query:a loses its rich result: CTR -60%
    clicks[0] = clicks[1:].sum(axis=0)
    panels = derive_ctr([_panel("impressions", SERIES, impressions), _panel("clicks", SERIES, clicks)])
    found = _by(detect(panels, DetectionParams(), day=END))
    f = found["query:a", "ctr"]
    assert f.anomaly.kind is Kind.RATE_CHANGE
    # the clicks fell too, and say why; the digest joins the two into one incident
    clicks_finding = found["query:a", "clicks"]
    assert clicks_finding.decomposition is not None
    assert clicks_finding.decomposition.driver.name == "ctr"
    incidents = group_incidents(list(found.values()))
    assert len(incidents) == 1
    assert {(g.anomaly.series, g.anomaly.metric) for g in incidents[0].findings} >= {
        ("query:a", "ctr"),
        ("query:a", "clicks"),
    }
    assert f.decomposition is not None
    assert f.decomposition.metric == "clicks"
    assert f.decomposition.driver.name == "ctr"
    impressions_factor, ctr_factor = f.decomposition.factors
    assert abs(impressions_factor.change) < 0.1
    assert ctr_factor.change == pytest.approx(-0.6, abs=0.08)
    assert finding_to_json(f)["decomposition"] == {
        "metric": "clicks",
        "change": pytest.approx(f.decomposition.change),
        "factors": {"impressions": pytest.approx(impressions_factor.change), "ctr": pytest.approx(ctr_factor.change)},
        "driver": "ctr",
    }


def test_an_impressions_drop_takes_the_clicks_with_it_and_both_say_impressions_drove_it() -> None:
    impressions, clicks = _search(np.random.default_rng(2))
    impressions[2, -1] = np.round(impressions[2, -1] * 0.3)
    clicks[2, -1] = np.round(clicks[2, -1] * 0.3)
    impressions[0], clicks[0] = impressions[1:].sum(axis=0), clicks[1:].sum(axis=0)
    panels = derive_ctr([_panel("impressions", SERIES, impressions), _panel("clicks", SERIES, clicks)])
    found = _by(detect(panels, DetectionParams(), day=END))
    f = found["query:b", "impressions"]
    assert f.anomaly.kind is Kind.DROP
    assert ("query:b", "ctr") not in found
    assert f.decomposition is not None
    assert f.decomposition.driver.name == "impressions"
    clicks_finding = found["query:b", "clicks"]
    assert clicks_finding.decomposition == f.decomposition


def test_a_conversion_break_stays_its_own_finding_next_to_stable_sessions() -> None:
    rng = np.random.default_rng(3)
    sessions = _counts(rng, np.array([3000.0]))
    key_events = rng.binomial(sessions.astype(np.int64), 0.04).astype(float)
    key_events[0, -1] = 0.0
    panels = [_panel("sessions", (TOTAL_SERIES,), sessions), _panel("keyEvents", (TOTAL_SERIES,), key_events)]
    found = _by(detect(panels, DetectionParams(), day=END))
    assert list(found) == [(TOTAL_SERIES, "keyEvents")]
    f = found[TOTAL_SERIES, "keyEvents"]
    assert f.anomaly.kind is Kind.OUTAGE
    assert f.decomposition is not None
    assert f.decomposition.driver.name == "conversion rate"


def test_key_events_moving_with_sessions_say_sessions_drove_them() -> None:
    rng = np.random.default_rng(4)
    sessions = _counts(rng, np.array([3000.0]))
    key_events = rng.binomial(sessions.astype(np.int64), 0.05).astype(float)
    sessions[0, -1] = np.round(sessions[0, -1] * 0.5)
    key_events[0, -1] = np.round(sessions[0, -1] * 0.05)  # the conversion rate holds
    panels = [_panel("sessions", (TOTAL_SERIES,), sessions), _panel("keyEvents", (TOTAL_SERIES,), key_events)]
    found = _by(detect(panels, DetectionParams(), day=END))
    assert set(found) == {(TOTAL_SERIES, "sessions"), (TOTAL_SERIES, "keyEvents")}
    events = found[TOTAL_SERIES, "keyEvents"].decomposition
    assert events is not None
    assert events.driver.name == "sessions"
    assert found[TOTAL_SERIES, "sessions"].decomposition == events


def test_sites_in_one_file_each_fold_their_own_children() -> None:
    rng = np.random.default_rng(5)
    series = ("a/total", "a/page:/x", "a/page:/y", "b/total", "b/page:/x", "b/page:/y")
    values = _counts(rng, np.array([0.0, 2000.0, 1500.0, 0.0, 900.0, 1100.0]))
    values[1:3, -1] *= 0.4  # site a drops everywhere; b is untouched
    values[0], values[3] = values[1:3].sum(axis=0), values[4:6].sum(axis=0)
    found = detect([_panel("sessions", series, values)], DetectionParams(), day=END)
    assert [(f.anomaly.series, f.anomaly.kind) for f in found] == [("a/total", Kind.DROP)]
    assert {c.series for c in found[0].contributors} == {"a/page:/x", "a/page:/y"}


def test_a_moderate_sustained_shift_is_found_on_its_third_day_by_the_three_day_test() -> None:
    rng = np.random.default_rng(6)
    values = _counts(rng, np.array([1500.0]), alpha=0.004)
    values[0, -3:] = np.round(1500.0 * WEEKDAY[-3:] * 0.74)  # about 3.5 sd a day: no single day is enough
    panel = _panel("sessions", (TOTAL_SERIES,), values)
    found = detect_range([panel], DetectionParams(), start=DATES[-5], end=END)
    assert [(f.anomaly.day, f.anomaly.kind) for f in found] == [(END, Kind.LEVEL_SHIFT)]


def test_an_ongoing_shift_is_quiet_but_a_new_move_on_top_of_it_is_reported() -> None:
    rng = np.random.default_rng(7)
    values = _counts(rng, np.array([1500.0]))
    values[0, -12:] = np.round(values[0, -12:] * 0.5)
    values[0, -1] = np.round(values[0, -1] * 0.2)  # the last day collapses further
    panel = _panel("sessions", (TOTAL_SERIES,), values)
    found = detect_range([panel], DetectionParams(), start=DATES[-12], end=END)
    days = [(DATES.index(f.anomaly.day) - (N - 12), f.anomaly.kind) for f in found]
    assert days[-1] == (11, Kind.DROP)
    assert [k for d, k in days[:-1]] == [Kind.DROP, Kind.DROP, Kind.LEVEL_SHIFT]
    assert [d for d, k in days[:-1]] == [0, 1, 2]


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(8).uniform(size=500) ** 3
    np.testing.assert_allclose(noise.bh(p), stats.false_discovery_control(p, method="bh"))


def test_poisson_lognormal_tails_match_numerical_integration() -> None:
    from scipy import integrate

    for mu, alpha, k in ((100.0, 0.02, 200.0), (1000.0, 0.01, 1600.0), (30.0, 0.05, 2.0)):
        s = np.sqrt(np.log1p(alpha))

        def integrand(e: float, mu: float = mu, s: float = s, k: float = k) -> float:
            lam = mu * np.exp(s * e - s * s / 2)
            return float(stats.norm.pdf(e) * (stats.poisson.sf(k, lam) + 0.5 * stats.poisson.pmf(k, lam)))

        exact = integrate.quad(integrand, -12, 12, limit=200)[0]
        _, high = noise.pln_tails(np.array([k]), np.array([mu]), np.array([alpha]))
        assert high[0] == pytest.approx(exact, rel=0.3)


def test_clicks_gone_with_the_impressions_are_driven_by_the_impressions_not_a_ctr_of_zero() -> None:
    # a deindexed page: 13 impressions instead of 6,100 and no click on them (0.5 expected at
    # the usual CTR); the CTR "fell 100%", but the clicks went because the impressions did
    parts = Decomposition("clicks", 0.0, 265.0, (Factor("impressions", 13.0, 6100.0), Factor("ctr", 0.0, 0.0434)))
    assert finding_to_json(replace(finding(metric="impressions"), decomposition=parts))["decomposition"] == {
        "metric": "clicks",
        "change": -1.0,
        "factors": {"impressions": pytest.approx(13 / 6100 - 1), "ctr": -1.0},
        "driver": "impressions",
    }
    # a tracking break: sessions as usual, no key event: the conversion rate drove it
    broken = Decomposition(
        "keyEvents", 0.0, 52.0, (Factor("sessions", 1050.0, 1090.0), Factor("conversion rate", 0.0, 0.0477))
    )
    assert [f.name for f in broken.ranked] == ["conversion rate", "sessions"]


def test_a_big_channel_that_fell_alone_stays_next_to_the_total_it_dragged_down() -> None:
    # Organic Search is 85% of the site and halves while the other channels hold: the total
    # falls 43%, and against the total's own change the channel would look ordinary (-13%).
    # Against the rest of the site (which did not move) it is the cause, and is reported.
    rng = np.random.default_rng(8)
    series = (TOTAL_SERIES, "channel:Organic Search", "channel:Direct", "channel:Email")
    values = _counts(rng, np.array([0.0, 8500.0, 1000.0, 500.0]))
    values[1, -1] = np.round(values[1, -1] * 0.5)
    values[0] = values[1:].sum(axis=0)
    found = detect([_panel("sessions", series, values)], DetectionParams(), day=END)
    assert sorted((f.anomaly.series, f.anomaly.kind) for f in found) == [
        ("channel:Organic Search", Kind.DROP),
        (TOTAL_SERIES, Kind.DROP),
    ]
    assert [i.lead.anomaly.series for i in group_incidents(list(found))] == [TOTAL_SERIES]  # one incident


def test_clicks_that_a_ctr_drop_explains_are_reported_even_when_their_own_count_is_noisy() -> None:
    # The page's impressions swing a lot from day to day, so its clicks alone are a noisy
    # count; its CTR is steady. The CTR falls 40% with impressions holding: the CTR finding
    # is certain, and the clicks finding comes with it, saying the CTR drove it.
    rng = np.random.default_rng(9)
    series = ("page:/a",)
    impressions = _counts(rng, np.array([6000.0]), alpha=0.08)
    impressions[0, -1] = 6000.0 * WEEKDAY[-1]
    clicks = rng.binomial(impressions.astype(np.int64), 0.1).astype(float)
    clicks[0, -1] = rng.binomial(int(impressions[0, -1]), 0.06)
    panels = derive_ctr([_panel("impressions", series, impressions), _panel("clicks", series, clicks)])
    alone = _by(detect([panels[1]], DetectionParams(), day=END))
    assert ("page:/a", "clicks") not in alone  # the clicks' own test does not reach the bar
    found = _by(detect(panels, DetectionParams(), day=END))
    assert found["page:/a", "ctr"].anomaly.kind is Kind.RATE_CHANGE
    clicks_finding = found["page:/a", "clicks"]
    assert clicks_finding.anomaly.kind is Kind.DROP
    assert clicks_finding.decomposition is not None
    assert clicks_finding.decomposition.driver.name == "ctr"
