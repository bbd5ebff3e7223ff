"""Digests with incidents: one item per cause, its parts, what it suppressed, what was held back."""

from __future__ import annotations

import email
import email.policy
import json
import re
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

from alerts.render.email import render_email
from alerts.render.payload import render_payload
from alerts.render.slack import render_slack
from jobs.domain import Contributor, Digest, HeldBack, Incident, Kind, Severity
from tests.fakes import HOSTILE_PAGE, finding, sample_digest

OUTAGE = finding(
    metric="keyEvents", observed=0, expected=52, kind=Kind.OUTAGE, severity=Severity.CRITICAL, finding_id=1
)
RATE = finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04, finding_id=2)
SESSIONS = finding(
    observed=681, expected=1093, finding_id=3, contributors=(Contributor(f"landingPage:{HOSTILE_PAGE}", 10, 300, 0.7),)
)
USERS = finding(metric="totalUsers", observed=543, expected=878, finding_id=4)
PAGE = finding(series=f"landingPage:{HOSTILE_PAGE}", observed=10, expected=300, severity=Severity.MEDIUM, finding_id=5)
ONGOING = finding(
    metric="clicks",
    series="query:<!channel> shoes",
    observed=5,
    expected=90,
    property="search",
    kind=Kind.LEVEL_SHIFT,
    finding_id=6,
)


def _grouped(**changes: Any) -> Digest:
    digest = sample_digest(findings=(OUTAGE, SESSIONS, USERS, PAGE))
    return replace(
        digest,
        incidents=(
            Incident((OUTAGE,), suppressed=(RATE,), note="already alerted at 06:12 UTC (immediate alert)"),
            Incident((SESSIONS, USERS, PAGE)),
        ),
        held_back=(HeldBack(ONGOING, "ongoing: alerted on 2026-11-16 and not worse since"),),
        **changes,
    )


def _parts(digest: Digest) -> tuple[str, str]:
    raw = render_email(digest, sender="b@example.com", recipient="t@example.com").as_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None
    assert text is not None
    return str(html.get_content()), str(text.get_content())


def test_the_subject_counts_incidents_not_findings() -> None:
    _, text = _parts(_grouped())
    message = render_email(_grouped(), sender="b@example.com", recipient="t@example.com")
    assert message["Subject"] == "2 changes on shop: key events down 100%, sessions down 38%"
    assert render_slack(_grouped())["text"] == message["Subject"]
    assert "1. Key events down 100% [critical]" in text
    assert "2. Sessions down 38% [high]" in text


def test_the_text_part_lists_parts_notes_suppressed_and_held_back() -> None:
    _, text = _parts(_grouped())
    assert "   with total users down 38% and 1 more (one incident)" in text
    assert "   + Total users down 38% [high]" in text
    assert f"   + Sessions down 97% on Landing page {HOSTILE_PAGE} [medium]" in text
    assert "   Note: Already alerted at 06:12 UTC (immediate alert)" in text
    assert "   Suppressed because of the tracking break of key events on shop:" in text
    assert "   - session key event rate down 100% (shop)" in text
    assert "Not alerted this time:" in text
    assert "- clicks down 94% on Query “<!channel> shoes” (search): ongoing: alerted on 2026-11-16" in text


def test_every_part_has_its_chart_and_every_untrusted_name_is_escaped_in_html() -> None:
    html, _ = _parts(_grouped())
    assert html.count('src="cid:') == 4  # one per finding shown; suppressed ones are listed, not charted
    assert HOSTILE_PAGE not in html
    assert "<!channel>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Suppressed because of the tracking break of key events on shop" in html
    assert "Not alerted this time" in html


def test_slack_shows_one_section_per_incident_and_escapes_everything() -> None:
    payload = render_slack(_grouped())
    sections = [b for b in payload["blocks"] if b["type"] == "section" and "fields" in b]
    assert len(sections) == 2
    raw = json.dumps(payload)
    assert "<!channel>" not in raw
    assert "<script>" not in raw
    contexts = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert ":information_source: Already alerted at 06:12 UTC (immediate alert)" in contexts
    assert any(c.startswith("Also in this incident: Total users down 38% (543 vs 878, high)") for c in contexts)
    assert any(c.startswith("Suppressed because of the tracking break of key events on shop: ") for c in contexts)
    assert any("&lt;!channel&gt; shoes" in c and c.startswith(":zzz: Not alerted this time:") for c in contexts)


def test_a_digest_with_only_ongoing_problems_says_nothing_new() -> None:
    quiet = replace(_grouped(), findings=(), incidents=())
    assert render_slack(quiet)["text"] == "Nothing new on shop for 2026-11-18"
    html, text = _parts(quiet)
    assert "Nothing new: the problems below are ongoing and were alerted before." in text
    assert "Nothing unusual" not in html


def test_an_immediate_alert_is_marked_as_such() -> None:
    alert = replace(_grouped(), immediate=True, incidents=(Incident((OUTAGE,)),), findings=(OUTAGE,), held_back=())
    message = render_email(alert, sender="b@example.com", recipient="t@example.com")
    assert message["Subject"] == "Alert on shop: key events down 100%"
    html, text = _parts(alert)
    assert text.startswith("IMMEDIATE ALERT\n")
    assert "Immediate alert" in re.sub(r"<[^>]+>", "", html)
    assert render_slack(alert)["blocks"][0]["text"]["text"].startswith(":rotating_light: Alert on shop")


def test_the_webhook_document_carries_the_same_structure_raw() -> None:
    doc = render_payload(_grouped())
    assert [len(i["parts"]) for i in doc["incidents"]] == [0, 2]
    assert doc["incidents"][0]["suppressed"][0]["metric"] == "sessionKeyEventRate"
    assert doc["incidents"][0]["note"] == "already alerted at 06:12 UTC (immediate alert)"
    assert doc["held_back"][0]["finding"]["series"] == "query:<!channel> shoes"
    assert json.loads(json.dumps(doc)) == doc
