"""The Slack digest: Block Kit within Slack's limits, with nothing that can ping anyone."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from alerts.render.slack import render_slack
from jobs.domain import Contributor, Decomposition, Factor, Severity
from tests.fakes import CLICKS_BY_CTR, ctr_drop, finding, sample_digest


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


def test_payload_has_fallback_text_header_summary_and_a_section_per_finding() -> None:
    payload = render_slack(sample_digest())
    assert payload["text"].startswith("4 changes on shop: key events down 98%")
    assert payload["unfurl_links"] is False
    assert payload["unfurl_media"] is False
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[1]["type"] == "section"
    assert "*Key events collapsed on shop; sessions fell by 41%*" in blocks[1]["text"]["text"]
    finding_sections = [b for b in blocks if b["type"] == "section" and "fields" in b]
    assert len(finding_sections) == 4
    fields = [f["text"] for f in finding_sections[0]["fields"]]
    assert fields == [
        "*Actual*\n4 (-98%)",
        "*Expected*\n200 (range 170 – 230)",
        "*Kind*\ntracking outage",
        "*Severity*\ncritical",
    ]
    contexts = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert "Top contributors: Landing page /checkout 76% · Landing page /pricing 22%" in contexts


def test_untrusted_names_are_escaped_so_nothing_pings_or_links() -> None:
    hostile = finding(
        series="query:<!channel> hi <@U123>",
        contributors=(Contributor("query:<!here|here> & <https://evil.example|click>", 1.0, 9.0, 1.0),),
    )
    payload = render_slack(sample_digest(findings=(hostile, *sample_digest().findings)))
    raw = json.dumps(payload)
    for forbidden in ("<!channel>", "<@U123>", "<!here", "<https://evil", "<script>"):
        assert forbidden not in raw
    joined = "\n".join(_texts(payload))
    assert "&lt;!channel&gt; hi &lt;@U123&gt;" in joined
    assert "&lt;!here|here&gt; &amp; &lt;https://evil.example|click&gt;" in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in joined


def test_eighty_findings_fit_slack_limits_and_point_to_the_email() -> None:
    many = tuple(
        finding(series=f"landingPage:/p/{i}/" + "x" * 300, contributors=(Contributor("query:q", 1, 2, 1.0),))
        for i in range(80)
    )
    payload = render_slack(sample_digest(findings=many))
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    header = blocks[0]["text"]["text"]
    assert len(header) <= 150
    assert header.endswith("…")
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    shown = sum(1 for b in blocks if b["type"] == "section" and "fields" in b)
    pointer = [b for b in blocks if b["type"] == "context" and "in the email digest" in b["elements"][0]["text"]]
    assert len(pointer) == 1
    assert pointer[0]["elements"][0]["text"] == (
        f"{80 - shown} more changes in the email digest (a Slack message holds at most 50 blocks)."
    )
    assert shown >= 20


def test_a_very_long_summary_is_cut_at_three_thousand_characters_between_entities() -> None:
    digest = replace(sample_digest(), summary="<&> " * 2000)
    section = render_slack(digest)["blocks"][1]["text"]["text"]
    assert len(section) <= 3000
    assert section.endswith("…")
    assert re.search(r"&[a-z]*…$", section) is None  # never half an entity


def test_all_quiet_digest_says_so() -> None:
    payload = render_slack(sample_digest(findings=()))
    assert payload["text"] == "All quiet on shop for 2026-11-18"
    assert any("Nothing unusual" in t for t in _texts(payload))
    assert not any("more change" in t for t in _texts(payload))


def test_severity_is_visible_per_finding() -> None:
    payload = render_slack(sample_digest(findings=(finding(severity=Severity.LOW),)))
    section = next(b for b in payload["blocks"] if "fields" in b)
    assert section["text"]["text"].startswith(":white_circle: *Sessions down 41%*")


def test_the_factor_that_drove_a_product_metric_is_a_line_under_the_finding() -> None:
    by_ctr = ctr_drop("query:<!channel>")
    hostile = Decomposition("clicks", 10.0, 100.0, (Factor("impressions", 95.0, 100.0), Factor("<!here>", 0.1, 1.0)))
    clicks = finding(metric="clicks", observed=10.0, expected=100.0, decomposition=hostile)
    payload = render_slack(sample_digest(findings=(by_ctr, clicks)))
    contexts = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Clicks -57%, driven by CTR (-54%); impressions -6.0%" in contexts
    assert "Driven by &lt;!here&gt; (-90%); impressions -5.0%" in contexts
    assert "<!here>" not in json.dumps(payload)


def test_eighty_split_findings_with_contributors_still_fit_slack_limits() -> None:
    many = tuple(
        finding(
            metric="clicks",
            series=f"query:q{i}",
            observed=113.0,
            expected=263.34,
            contributors=(Contributor("page:/x", 1, 2, 1.0),),
            decomposition=CLICKS_BY_CTR,
        )
        for i in range(80)
    )
    blocks = render_slack(sample_digest(findings=many))["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    lines = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    assert lines.count("Driven by CTR (-54%); impressions -6.0%") >= 20
