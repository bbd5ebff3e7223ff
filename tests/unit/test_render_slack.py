"""The Slack digest: a short header, a short summary, the top incidents with their charts and
buttons, within Slack's limits, with nothing that can ping anyone."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from alerts.render.links import Links
from alerts.render.slack import MAX_HEADER, MAX_SUMMARY, render_slack
from alerts.signing import Signer
from jobs.domain import Contributor, Decomposition, Factor, Severity
from tests.fakes import finding, sample_digest

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
LINKS = Links(
    public_url="https://barometer.example",
    signer=Signer(b"s" * 32),
    now=NOW,
    reports={"shop": ("ga4", "properties/123"), "shop-gsc": ("gsc", "sc-domain:shop.example")},
)


def _texts(payload: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return found


def _check_limits(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= MAX_HEADER
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25


def test_header_is_short_without_a_url_and_the_summary_block_is_short() -> None:
    page = finding(metric="impressions", series="page:https://shop.example/guides/sizing", property="shop-gsc")
    digest = replace(sample_digest(findings=(page, *sample_digest().findings)), summary="Word. " * 400)
    payload = render_slack(digest, links=LINKS)
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) <= MAX_HEADER
    assert header == "Impressions on /guides/sizing fell 41% (5 changes on shop)"  # the top change, whole
    assert "https://" not in header
    assert "shop.example" not in header
    summary = payload["blocks"][2]["text"]["text"]
    assert len(summary) <= MAX_SUMMARY
    _check_limits(payload)


def test_each_top_incident_has_its_chart_image_and_buttons() -> None:
    payload = render_slack(sample_digest(), links=LINKS)
    images = [b for b in payload["blocks"] if b["type"] == "image"]
    assert len(images) == 4
    assert images[0]["image_url"].startswith("https://barometer.example/charts/")
    assert images[0]["image_url"].endswith(".png")
    assert images[0]["alt_text"] == "Chart of Key events tracking stopped: expected about 200, got 4"
    token = images[0]["image_url"].removeprefix("https://barometer.example/charts/").removesuffix(".png")
    assert LINKS.signer.verify(token, purpose="chart", now=NOW).finding_id == 101  # type: ignore[union-attr]
    actions = [b for b in payload["blocks"] if b["type"] == "actions"]
    texts = [e["text"]["text"] for e in actions[0]["elements"]]
    assert texts == ["Open in Google Analytics", "Expected", "False alarm", "Useful"]
    assert actions[0]["elements"][1]["url"].startswith("https://barometer.example/feedback/")


def test_without_a_public_url_there_are_no_images_or_feedback_buttons() -> None:
    payload = render_slack(sample_digest())
    assert not [b for b in payload["blocks"] if b["type"] in ("image", "actions")]


def test_untrusted_names_are_escaped_so_nothing_pings_or_links() -> None:
    hostile = finding(
        series="query:<!channel> hi <@U123>",
        contributors=(Contributor("query:<!here|here> & <https://evil.example|click>", 1.0, 9.0, 1.0),),
    )
    payload = render_slack(sample_digest(findings=(hostile, *sample_digest().findings)), links=LINKS)
    raw = json.dumps(payload)
    for forbidden in ("<!channel>", "<@U123>", "<!here", "<https://evil", "<script>"):
        assert forbidden not in raw
    joined = "\n".join(_texts(payload))
    assert "&lt;!channel&gt; hi &lt;@U123&gt;" in joined
    assert "&lt;!here|here&gt; &amp; &lt;https://evil.example|click&gt;" in joined


def test_eighty_findings_fit_slack_limits_and_point_to_the_full_list() -> None:
    many = tuple(
        finding(series=f"landingPage:/p/{i}/" + "x" * 300, contributors=(Contributor("query:q", 1, 2, 1.0),))
        for i in range(80)
    )
    payload = render_slack(sample_digest(findings=many), links=LINKS)
    _check_limits(payload)
    texts = "\n".join(_texts(payload))
    assert re.search(r"<https://barometer\.example/digests/7/all\?t=[\w.-]+\|and 65 more>", texts)


def test_a_very_long_summary_is_cut_between_entities() -> None:
    section = render_slack(replace(sample_digest(), summary="<&> " * 2000))["blocks"][2]["text"]["text"]
    assert len(section) <= MAX_SUMMARY
    assert re.search(r"&[a-z]*…$", section) is None  # never half an entity


def test_all_quiet_digest_says_so() -> None:
    payload = render_slack(sample_digest(findings=()))
    assert payload["text"] == "All quiet on shop for Nov 18"
    assert any("Nothing unusual" in t for t in _texts(payload))


def test_severity_and_kind_are_visible_per_incident() -> None:
    payload = render_slack(sample_digest(findings=(finding(severity=Severity.LOW),)))
    section = next(b for b in payload["blocks"] if b["type"] == "section" and "Sessions" in b["text"]["text"])
    assert section["text"]["text"].startswith(":white_circle: *Sessions fell 41%*  _sudden drop_")


def test_hostile_factor_names_are_escaped() -> None:
    hostile = Decomposition("clicks", 10.0, 100.0, (Factor("impressions", 95.0, 100.0), Factor("<!here>", 0.1, 1.0)))
    payload = render_slack(sample_digest(findings=(finding(metric="clicks", decomposition=hostile),)))
    assert "<!here>" not in json.dumps(payload)
