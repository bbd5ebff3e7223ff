"""Deep links to Google's reports, pinned to their exact shapes, and the signed link tokens."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from alerts.render.links import ga4_url, gsc_url
from alerts.signing import BadLink, Signer

START, END = date(2026, 11, 8), date(2026, 12, 5)
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_ga4_link_opens_the_report_explorer_filtered_to_the_channel_and_dates() -> None:
    url = ga4_url("properties/123", series="sessionDefaultChannelGroup:Organic Search", start=START, end=END)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "analytics.google.com", "/analytics/web/")
    route, _, query = parts.fragment.partition("?")
    assert route == "/p123/reports/explorer"
    q = parse_qs(query)
    assert q["r"] == ["lifecycle-traffic-acquisition-v2"]
    params = dict(p.split("=", 1) for p in unquote(q["params"][0]).split("&"))
    assert (params["_u.date00"], params["_u.date01"]) == ("20261108", "20261205")
    [flt] = json.loads(params["_r..dataFilters"])
    assert (flt["fieldName"], flt["expressionList"]) == ("sessionDefaultChannelGroup", ["Organic Search"])


def test_ga4_link_of_a_total_has_no_filter() -> None:
    url = ga4_url("properties/9", series="total", start=START, end=END)
    assert url == (
        "https://analytics.google.com/analytics/web/#/p9/reports/explorer"
        "?params=_u.date00%3D20261108%26_u.date01%3D20261205&r=lifecycle-traffic-acquisition-v2"
    )


@pytest.mark.parametrize(
    ("series", "key", "value"),
    [
        ("page:https://shop.example/a b", "page", "!https://shop.example/a b"),
        ("query:shoe size", "query", "!shoe size"),
    ],
)
def test_search_console_link_opens_the_performance_report_filtered_exactly(series: str, key: str, value: str) -> None:
    url = gsc_url("sc-domain:shop.example", series=series, start=START, end=END)
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("search.google.com", "/search-console/performance/search-analytics")
    q = parse_qs(parts.query)
    assert q == {
        "resource_id": ["sc-domain:shop.example"],
        "start_date": ["20261108"],
        "end_date": ["20261205"],
        key: [value],
    }


def test_a_signed_token_says_what_it_allows_and_expires() -> None:
    signer = Signer(b"x" * 32, ttl=timedelta(days=14))
    token = signer.sign("feedback", 42, now=NOW, label="expected")
    claim = signer.verify(token, purpose="feedback", now=NOW + timedelta(days=13))
    assert (claim.finding_id, claim.label) == (42, "expected")
    with pytest.raises(BadLink, match="expired on 2026-12-21"):
        signer.verify(token, purpose="feedback", now=NOW + timedelta(days=14))
    with pytest.raises(BadLink, match="for feedback, not chart"):
        signer.verify(token, purpose="chart", now=NOW)
    with pytest.raises(BadLink, match="was changed"):
        Signer(b"y" * 32).verify(token, purpose="feedback", now=NOW)
    assert "x" * 16 not in repr(signer)


def test_a_token_can_carry_an_incident_s_findings() -> None:
    signer = Signer(b"x" * 32)
    claim = signer.verify(signer.sign("feedback", [7, 8, 9], now=NOW, label="false_alarm"), purpose="feedback", now=NOW)
    assert (claim.finding_ids, claim.finding_id, claim.label) == ((7, 8, 9), 7, "false_alarm")
