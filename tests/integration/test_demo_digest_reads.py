"""What ``barometer demo`` sends, read as a marketing reader reads it, on a few dates.

Subject, lead and body count the same changes; the top change is in the subject; no jargon,
no ids, no CLI; each source's date is explained; every incident in full links to its
Google report; the email is under 250 KB; the Slack payload keeps a short header and a short
summary; more changes than fit are one click away in the full list written next to the email.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from worker.demo import run_demo
from worker.settings import Settings

JARGON = ("Series:", "Kind:", "Finding #", "barometer feedback", "barometer mute", "level shift", "All traffic")


@pytest.mark.parametrize("today", [date(2026, 12, 7), date(2027, 1, 1), date(2027, 3, 29)])
def test_the_demo_digest_reads_in_a_minute(today: date, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    run_demo(
        Settings(),
        outbox=outbox,
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        now=lambda: datetime(today.year, today.month, today.day, 12, tzinfo=UTC),
    )
    [eml] = outbox.glob("*.eml")
    raw = eml.read_bytes()
    assert len(raw) < 250_000
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text_part = message.get_body(("plain",))
    assert text_part is not None
    text = str(text_part.get_content())
    subject = str(message["Subject"])
    assert subject.startswith("Key events tracking stopped; ")
    counts = {int(n) for n in re.findall(r"(\d+) changes", subject + text)}
    assert len(counts) == 1, counts
    [n] = counts
    lead = text.split("\n\n")[1]
    assert lead.startswith(f"{n} changes on shop, shop-search.")
    assert len(re.findall(r"[.!?](?:\s|$)", lead)) <= 3
    for word in JARGON:
        assert word not in text, word
    ga4, gsc = today - timedelta(days=2), today - timedelta(days=3)
    assert f"Google Analytics (shop) through {ga4:%b} {ga4.day}: Google finishes counting" in text
    assert f"Search Console (shop-search) through {gsc:%b} {gsc.day}: Google finalises it" in text
    full = len(re.findall(r"^\d+\. ", text, flags=re.M))
    assert full == min(n, 5)
    assert (
        text.count("Open in Google Analytics: https://analytics.google.com/")
        + text.count("Open in Search Console: https://search.google.com/search-console/")
        == full
    )
    if n > full:
        [page] = outbox.glob("*.all.html")
        assert f"All {n} changes in full: {page.absolute().as_uri()}" in text
    [slack_file] = outbox.glob("*.slack.json")
    slack = json.loads(slack_file.read_text(encoding="utf-8"))
    header = slack["blocks"][0]["text"]["text"]
    assert len(header) <= 80
    assert "http" not in header
    assert len(slack["blocks"][2]["text"]["text"]) <= 500
