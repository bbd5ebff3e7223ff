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
from jobs.domain import Contributor, Digest, HeldBack, Incident, Kind, Ongoing, Severity
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
    assert message["Subject"] == "Key events tracking stopped; sessions fell 38% (2 changes on shop)"
    assert render_slack(_grouped())["text"] == message["Subject"]
    assert "1. Key events tracking stopped [critical, tracking stopped]" in text
    assert "2. Sessions fell 38% [high, sudden drop]" in text


def test_the_text_part_lists_parts_notes_what_a_break_silenced_and_what_is_ongoing() -> None:
    _, text = _parts(_grouped())
    assert "   + Total users fell 38% (expected about 878, got 543)" in text
    assert f"   + Sessions on {HOSTILE_PAGE} fell 97% (expected about 300, got 10)" in text
    assert "   Already alerted at 06:12 UTC (immediate alert)" in text
    assert "   Tracking stopped for: key events, session key event rate" in text
    assert "Still ongoing:" in text
    assert "- Clicks on the query “<!channel> shoes” fell 94%: ongoing: alerted on 2026-11-16" in text


def test_incident_leads_have_charts_and_every_untrusted_name_is_escaped_in_html() -> None:
    html, _ = _parts(_grouped())
    assert html.count('src="cid:') == 2  # one per incident in full; its parts are one line each
    assert "<!channel>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Still ongoing" in html


def test_slack_shows_one_section_per_incident_and_escapes_everything() -> None:
    payload = render_slack(_grouped())
    sections = [b for b in payload["blocks"] if b["type"] == "section" and "_tracking stopped_" in b["text"]["text"]]
    assert len(sections) == 1
    raw = json.dumps(payload)
    assert "<!channel>" not in raw
    assert "<script>" not in raw
    contexts = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Already alerted at 06:12 UTC (immediate alert)" in contexts
    assert any(c.startswith("Same incident: Total users fell 38% (expected about 878, got 543)") for c in contexts)
    assert any("&lt;!channel&gt; shoes" in c and c.startswith("*Still ongoing:*") for c in contexts)


def test_a_digest_with_only_ongoing_problems_says_nothing_new() -> None:
    quiet = replace(_grouped(), findings=(), incidents=())
    assert render_slack(quiet)["text"] == "Nothing new on shop for Nov 18"
    html, text = _parts(quiet)
    assert "Nothing new: the problems below are ongoing and were reported before." in text
    assert "Nothing unusual" not in html
    assert "Key events nearly stopped" not in text  # the summary of findings it no longer shows


def test_an_immediate_alert_is_marked_as_such() -> None:
    alert = replace(_grouped(), immediate=True, incidents=(Incident((OUTAGE,)),), findings=(OUTAGE,), held_back=())
    message = render_email(alert, sender="b@example.com", recipient="t@example.com")
    assert message["Subject"] == "Alert on shop: key events tracking stopped"
    html, text = _parts(alert)
    assert text.startswith("Alert on shop: key events tracking stopped\n")
    assert "Alert" in re.sub(r"<[^>]+>", "", html)
    assert render_slack(alert)["blocks"][0]["text"]["text"].startswith(":rotating_light: Alert on shop")


def test_the_webhook_document_carries_the_same_structure_raw() -> None:
    doc = render_payload(_grouped())
    assert [len(i["parts"]) for i in doc["incidents"]] == [0, 2]
    assert doc["incidents"][0]["suppressed"][0]["metric"] == "sessionKeyEventRate"
    assert doc["incidents"][0]["note"] == "already alerted at 06:12 UTC (immediate alert)"
    assert doc["held_back"][0]["finding"]["series"] == "query:<!channel> shoes"
    assert json.loads(json.dumps(doc)) == doc


def test_the_webhook_document_lists_what_is_still_ongoing() -> None:
    from datetime import timedelta

    opened = ONGOING.anomaly.day
    digest = replace(_grouped(), ongoing=(Ongoing(ONGOING, observed=40.0, day=opened + timedelta(days=4)),))
    doc = render_payload(digest)
    (item,) = doc["ongoing"]
    assert item["since"] == opened.isoformat()
    assert item["day"] == 5
    assert item["value"] == 40.0
    assert item["change"] == 40.0 / 90.0 - 1.0
    assert item["finding"]["series"] == "query:<!channel> shoes"  # raw: the consumer escapes
    assert item["text"].startswith("clicks −56% on Query “<!channel> shoes” ")
    assert item["text"].endswith(f"since {opened:%b} {opened.day} (day 5) (search)")
    assert render_payload(_grouped())["ongoing"] == []
    assert json.loads(json.dumps(doc)) == doc


def test_a_recovery_follow_up_is_titled_by_its_own_headline() -> None:
    recovered = replace(
        sample_digest(findings=()),
        immediate=True,
        headline="Recovered on shop: key events on shop recovered at 13:00 (alerted at 10:40)",
        summary="key events on shop recovered at 13:00 (alerted at 10:40) (Europe/Berlin).",
        notices=(),
    )
    message = render_email(recovered, sender="b@example.com", recipient="t@example.com")
    assert message["Subject"] == "Recovered on shop: key events on shop recovered at 13:00 (alerted at 10:40)"
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "key events on shop recovered at 13:00 (alerted at 10:40) (Europe/Berlin)." in text
    assert "Nothing unusual" not in text
