"""Which findings a subscription hears about, and in what order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.errors import AlertsError
from alerts.history import Sighting, problem_key
from alerts.mutes import Mute, parse_pattern
from alerts.policy import Plan, PolicyParams, plan, select_findings
from jobs.domain import Finding, Kind, Severity
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


# --- plan: mutes, inhibition, deduplication across days, grouping --------------------

SUB = "marketing"
NOON = datetime(2026, 11, 18, 6, 12, tzinfo=UTC)


def _seen(f: Finding, *, days_ago: int, via: str = "digest", sent: bool = True, ratio: float | None = None) -> Sighting:
    a = f.anomaly
    return Sighting(
        problem_key=problem_key(f),
        day=a.day - timedelta(days=days_ago),
        via=via,
        severity=f.severity.value,
        ratio=a.observed / a.expected if ratio is None else ratio,
        sent_at=NOON - timedelta(days=days_ago) if sent else None,
    )


def _mute(pattern: str, *, subscription: str = "", reason: str = "tag migration") -> Mute:
    return Mute(1, pattern, subscription, reason, NOON, NOON + timedelta(days=7))


def _history(*rows: Sighting) -> dict[str, tuple[Sighting, ...]]:
    out: dict[str, list[Sighting]] = {}
    for row in sorted(rows, key=lambda r: r.day, reverse=True):
        out.setdefault(row.problem_key, []).append(row)
    return {k: tuple(v) for k, v in out.items()}


def _plan(findings: list[Finding], **kw: object) -> Plan:
    params = kw.pop("params", PolicyParams(min_severity=Severity.LOW))
    return plan(findings, params=params, subscription=SUB, **kw)  # type: ignore[arg-type]


def test_a_new_problem_is_shown_and_below_the_floor_nothing_is_said() -> None:
    low = finding(severity=Severity.LOW, metric="clicks")
    high = finding(severity=Severity.HIGH)
    result = plan([low, high], params=PolicyParams(min_severity=Severity.MEDIUM), subscription=SUB)
    assert result.findings == (high,)
    assert result.held_back == ()


def test_an_ongoing_problem_already_alerted_is_held_back_with_the_reason() -> None:
    shift = finding(kind=Kind.LEVEL_SHIFT, observed=600, expected=1000)
    result = _plan([shift], history=_history(_seen(shift, days_ago=1)))
    assert result.incidents == ()
    assert [(h.finding, h.reason) for h in result.held_back] == [
        (shift, "ongoing: alerted on 2026-11-17 and not worse since")
    ]


def test_the_problem_key_ignores_the_kind_an_outage_that_becomes_a_level_shift_is_one_problem() -> None:
    outage = finding(kind=Kind.OUTAGE, observed=0, expected=1000)
    shift = finding(kind=Kind.LEVEL_SHIFT, observed=0, expected=1000)
    assert problem_key(outage) == problem_key(shift)
    assert _plan([shift], history=_history(_seen(outage, days_ago=2))).incidents == ()


def test_a_problem_that_escalates_is_shown_again_with_what_changed() -> None:
    now = finding(observed=350, expected=1000)  # -65%
    result = _plan([now], history=_history(_seen(now, days_ago=1, ratio=0.6)))  # it was -40%
    [incident] = result.incidents
    assert incident.note == "escalated: -40% when alerted on 2026-11-17, -65% now"
    worse = finding(observed=590, expected=1000, severity=Severity.CRITICAL)
    previously_high = replace(_seen(worse, days_ago=1), severity="high")
    [incident] = _plan([worse], history=_history(previously_high)).incidents
    assert incident.note.endswith("now critical")


def test_a_small_growth_is_not_an_escalation() -> None:
    now = finding(observed=550, expected=1000)  # -45%, was -40%
    assert _plan([now], history=_history(_seen(now, days_ago=1, ratio=0.6))).incidents == ()


def test_a_problem_seen_again_after_a_long_gap_is_new() -> None:
    shift = finding(observed=600, expected=1000)
    params = PolicyParams(min_severity=Severity.LOW, dedup_days=3)
    assert _plan([shift], params=params, history=_history(_seen(shift, days_ago=4))).findings == (shift,)
    chain = _history(
        _seen(shift, days_ago=5), _seen(shift, days_ago=3, via="seen"), _seen(shift, days_ago=1, via="seen")
    )
    assert _plan([shift], params=params, history=chain).findings == ()
    assert _plan([shift], params=replace(params, dedup_days=0), history=chain).findings == (shift,)


def test_a_digest_that_reached_nobody_did_not_notify() -> None:
    shift = finding(observed=600, expected=1000)
    assert _plan([shift], history=_history(_seen(shift, days_ago=1, sent=False))).findings == (shift,)


def test_a_problem_sent_as_an_immediate_alert_today_stays_in_the_digest_with_a_note() -> None:
    outage = finding(metric="keyEvents", kind=Kind.OUTAGE, observed=0, expected=50, severity=Severity.CRITICAL)
    result = _plan([outage], history=_history(_seen(outage, days_ago=0, via="alert")))
    [incident] = result.incidents
    assert incident.note == "already alerted at 06:12 UTC (immediate alert)"


def test_an_immediate_alert_carries_only_new_findings_of_its_kinds() -> None:
    outage = finding(metric="keyEvents", kind=Kind.OUTAGE, observed=0, expected=50, severity=Severity.CRITICAL)
    drop = finding(severity=Severity.CRITICAL)
    params = PolicyParams(min_severity=Severity.CRITICAL, kinds=frozenset({Kind.OUTAGE}), immediate=True)
    assert _plan([outage, drop], params=params).findings == (outage,)
    assert _plan([outage, drop], params=params, history=_history(_seen(outage, days_ago=0))).findings == ()
    assert _plan([outage], params=params, mutes=[_mute("shop/keyEvents")]).findings == ()


def test_a_muted_finding_is_held_back_only_for_the_subscriptions_the_mute_names() -> None:
    page = finding(series="landingPage:/blog/launch", observed=4000, expected=800, kind=Kind.SPIKE)
    other = finding(metric="keyEvents", observed=10, expected=100)
    result = _plan([page, other], mutes=[_mute("shop/sessions/landingPage:/blog*")])
    assert result.findings == (other,)
    assert [h.reason for h in result.held_back] == ["muted until 2026-11-25 06:12 UTC (mute 1: tag migration)"]
    assert _plan([page], mutes=[_mute("shop", subscription="other-team")]).findings == (page,)


def test_drops_a_tracking_break_causes_are_listed_under_it() -> None:
    outage = finding(metric="keyEvents", kind=Kind.OUTAGE, observed=0, expected=50, severity=Severity.CRITICAL)
    child = finding(metric="keyEvents", series="landingPage:/checkout", observed=0, expected=30)
    rate = finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04)
    [incident] = _plan([outage, child, rate]).incidents
    assert incident.findings == (outage,)
    assert incident.suppressed == (rate, child)  # in rank order: totals first


def test_when_the_tracking_break_is_muted_what_it_causes_is_held_back_saying_why() -> None:
    outage = finding(metric="keyEvents", kind=Kind.OUTAGE, observed=0, expected=50, severity=Severity.CRITICAL)
    rate = finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04)
    result = _plan([outage, rate], mutes=[_mute("shop/keyEvents")])
    assert result.incidents == ()
    assert [h.reason for h in result.held_back] == [
        "muted until 2026-11-25 06:12 UTC (mute 1: tag migration)",
        "suppressed: follows from the tracking break of key events on shop "
        "(muted until 2026-11-25 06:12 UTC (mute 1: tag migration))",
    ]


def test_mute_patterns() -> None:
    assert parse_pattern("shop") == ("shop", "*", "*")
    assert parse_pattern("shop/keyEvents") == ("shop", "keyEvents", "*")
    assert parse_pattern("shop/sessions/landingPage:/blog/*") == ("shop", "sessions", "landingPage:/blog/*")
    for bad in ("", "/keyEvents", "shop//x", "sh op"):
        with pytest.raises(AlertsError, match="mute pattern"):
            parse_pattern(bad)
    mute = _mute("*/*/query:*brand*")
    assert mute.matches(finding(series="query:my brand shoes"), subscription=SUB)
    assert not mute.matches(finding(series="query:Brand"), subscription=SUB)  # case-sensitive
    assert mute.active(NOON)
    assert not mute.active(NOON + timedelta(days=7))
