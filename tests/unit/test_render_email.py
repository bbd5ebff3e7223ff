"""The email digest as a mail client sees it: parsed back from its bytes.

What a marketing reader gets: the top change in the subject, a short lead, at most five
incidents in full in plain words, the rest one line each, links to the evidence and to
feedback, and each source's data date explained. No ids, no CLI, no jargon.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from alerts.render.email import render_email
from alerts.render.links import Links
from alerts.signing import Signer
from jobs.domain import Contributor, DataDate, Decomposition, Factor, Finding, Incident, Kind, Severity
from jobs.summary.template import TemplateSummariser
from tests.fakes import finding, sample_digest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
LINKS = Links(
    public_url="https://barometer.example",
    signer=Signer(b"k" * 32),
    now=NOW,
    reports={"shop": ("ga4", "properties/123"), "shop-gsc": ("gsc", "sc-domain:shop.example")},
)
JARGON = ("Series:", "Kind:", "Finding #", "barometer feedback", "barometer mute", "level shift", "tracking outage")


def _roundtrip(message: email.message.EmailMessage) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _render(digest: object = None, **kwargs: object) -> email.message.EmailMessage:
    chosen = sample_digest() if digest is None else digest
    return _roundtrip(
        render_email(chosen, sender="Barometer <barometer@example.com>", recipient="team@shop.example", **kwargs)  # type: ignore[arg-type]
    )


def _html(message: email.message.EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _visible(html: str) -> str:
    body = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&amp;", "&")


def _text(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _images(message: email.message.EmailMessage) -> list[email.message.EmailMessage]:
    return [p for p in message.walk() if p.get_content_type() == "image/png"]


def _many(n: int) -> tuple[Finding, ...]:
    return tuple(
        finding(series=f"landingPage:/p{i}", observed=100.0, expected=1000.0 + i, finding_id=200 + i) for i in range(n)
    )


def test_the_subject_names_the_top_change_and_how_many_changes() -> None:
    message = _render()
    assert message["Subject"] == "Key events tracking stopped; sessions fell 41% (4 changes on shop)"


def test_the_counts_in_subject_lead_and_body_agree() -> None:
    findings = _many(8)
    summary = TemplateSummariser(properties=["shop"]).summarise(findings, data_date=date(2026, 11, 18))
    digest = replace(sample_digest(findings=findings), summary=summary.text, notices=())
    message = _render(digest)
    counts = {
        int(n) for n in re.findall(r"(\d+) changes", message["Subject"] + _text(message) + _visible(_html(message)))
    }
    assert counts == {8}


def test_the_lead_is_at_most_three_sentences() -> None:
    long = "One. Two is here. Three follows. Four is too many. Five."
    body = _text(_render(replace(sample_digest(), summary=long)))
    assert "One. Two is here. Three follows." in body
    assert "Four" not in body


def test_an_empty_digest_says_all_quiet() -> None:
    message = _render(sample_digest(findings=()))
    assert message["Subject"] == "All quiet on shop for Nov 18"
    assert "Nothing unusual" in _text(message)
    assert "Nothing unusual" in _html(message)
    assert not _images(message)


def test_one_small_chart_per_incident_in_full_with_alt_text() -> None:
    message = _render()
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = list(message.iter_parts())
    assert (text_part.get_content_type(), related.get_content_type()) == ("text/plain", "multipart/related")
    html = _html(message)
    images = _images(message)
    assert len(images) == 4
    for image in images:
        assert image.get_content().startswith(PNG_MAGIC)
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert 'alt="Chart of the change above: expected about 200, got 4"' in html


def test_at_most_five_incidents_in_full_the_rest_one_line_each_and_a_link_to_all() -> None:
    message = _render(sample_digest(findings=_many(8)), links=LINKS)
    text = _text(message)
    assert len(_images(message)) == 5
    assert text.count("[high, sudden drop]") == 5
    for i in (5, 6, 7):
        assert f"- Sessions on /p{i} fell 90% (expected about 1,000, got 100)" in text
    assert "All 8 changes in full: https://barometer.example/digests/7/all?t=" in text
    crowded = _text(_render(sample_digest(findings=_many(40)), links=LINKS))
    assert "- and 25 more: https://barometer.example/digests/7/all?t=" in crowded


def test_findings_read_in_plain_words_without_ids_or_jargon() -> None:
    message = _render(links=LINKS)
    for body in (_visible(_html(message)), _text(message)):
        assert "Key events tracking stopped" in body
        assert "Expected about 200, got 4" in body
        assert "Sessions fell 41%" in body
        assert "Expected about 1,000, got 590" in body
        assert "sudden drop" in body
        assert "Clicks on the query “running shoes” rose 200%" in body
        assert "the Organic Search channel: 210 instead of about 520 (75% of the change)" in body
        assert "Search Console data for 2026-11-18 is still provisional." in body
        for word in (*JARGON, "All traffic"):
            assert word not in body, word


def test_tiny_counts_are_told_as_counts_not_percentages() -> None:
    tiny = finding(metric="clicks", series="page:https://shop.example/guides/sizing", observed=2.0, expected=9.0)
    body = _text(_render(sample_digest(findings=(tiny,))))
    assert "Clicks on /guides/sizing fell" in body
    assert "2 clicks instead of about 9" in body
    assert "%" not in body.split("--")[0].replace("Expected", "")


def test_a_rate_of_a_handful_of_impressions_is_not_blamed() -> None:
    deindexed = Decomposition("clicks", 2.0, 250.0, (Factor("impressions", 13.0, 6147.0), Factor("ctr", 2 / 13, 0.04)))
    clicks = finding(metric="clicks", observed=2.0, expected=250.0, decomposition=deindexed)
    body = _text(_render(sample_digest(findings=(clicks,))))
    assert "Because of fewer impressions (13 instead of about 6,100)" in body
    assert "CTR" not in body
    assert "+261%" not in body


def test_a_tracking_break_names_what_it_silenced_instead_of_listing_zeros() -> None:
    zeros = tuple(Contributor(f"sessionDefaultChannelGroup:C{i}", 0.0, 8.24, 0.1) for i in range(8))
    outage = finding(metric="keyEvents", observed=0.0, expected=46.0, kind=Kind.OUTAGE, contributors=zeros)
    rate = finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04, kind=Kind.RATE_CHANGE)
    digest = replace(sample_digest(findings=(outage,)), incidents=(Incident((outage,), suppressed=(rate,)),))
    body = _text(_render(digest))
    assert "Tracking stopped for: key events, session key event rate" in body
    assert "8.24" not in body
    assert "0 vs" not in body


def test_contributors_are_listed_only_when_they_explain_most_of_the_change() -> None:
    scattered = tuple(Contributor(f"sessionDefaultChannelGroup:C{i}", 90.0, 100.0, 0.1) for i in range(10))
    body = _text(_render(sample_digest(findings=(finding(contributors=scattered),))))
    assert "Mostly from" not in body


def test_each_source_s_data_date_is_explained() -> None:
    sources = (DataDate("shop", "ga4", date(2026, 11, 18)), DataDate("shop-gsc", "gsc", date(2026, 11, 17)))
    message = _render(replace(sample_digest(), sources=sources))
    for body in (_text(message), _visible(_html(message))):
        assert "Google Analytics (shop) through Nov 18: Google finishes counting a day about 2 days later." in body
        assert "Search Console (shop-gsc) through Nov 17: Google finalises it about 3 days later." in body


def test_each_finding_links_to_its_report_and_to_signed_feedback() -> None:
    message = _render(links=LINKS)
    html, text = _html(message), _text(message)
    assert "Open in Google Analytics: https://analytics.google.com/analytics/web/#/p123/reports/explorer?" in text
    assert "Open in Search Console: https://search.google.com/search-console/performance/search-analytics?" in text
    for label in ("Expected", "False alarm", "Useful"):
        assert f">{label}</a>" in html
    assert "   Mark as false alarm: https://barometer.example/feedback/" in text
    tokens = re.findall(r"https://barometer\.example/feedback/([\w.-]+)", text)
    assert len(tokens) == 12  # three per finding
    claim = LINKS.signer.verify(tokens[0], purpose="feedback", now=NOW)  # type: ignore[union-attr]
    assert (claim.finding_id, claim.label) == (101, "expected")


def test_an_incident_the_hourly_watch_already_alerted_is_one_line() -> None:
    digest = sample_digest()
    outage, *rest = digest.findings
    told = Incident((outage,), alerted="alerted at 10:40 (hourly watch)")
    digest = replace(digest, incidents=(told, *(Incident((f,)) for f in rest)))
    message = _render(digest)
    text = _text(message)
    assert "- Key events tracking stopped (expected about 200, got 4) (alerted at 10:40 (hourly watch))" in text
    assert "[critical" not in text
    assert len(_images(message)) == 3
    assert message["Subject"].endswith("(4 changes on shop)")


def test_html_uses_inlined_css_and_keeps_a_dark_mode_block() -> None:
    html = _html(_render())
    assert re.search(r'class="card"[^>]*style="[^"]*max-width: 600px', html)
    assert "@media (prefers-color-scheme: dark)" in html
    assert '<meta name="color-scheme" content="light dark">' in html


def test_hostile_names_are_escaped_in_html_and_stay_on_one_line_in_text() -> None:
    html = _html(_render())
    assert _tags(html) <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "div",
        "table",
        "tbody",
        "tr",
        "td",
        "span",
        "h1",
        "p",
        "img",
        "ul",
        "li",
        "a",
        "br",
        "strong",
    }
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    sneaky = finding(series="query:shoes\n\nACTION REQUIRED: reset your password", severity=Severity.LOW)
    text = _text(_render(sample_digest(findings=(sneaky,))))
    assert "the query “shoes ACTION REQUIRED: reset your password”" in text
    assert "\nACTION REQUIRED" not in text


def test_hostile_names_cannot_inject_headers_into_the_subject() -> None:
    message = _render(sample_digest(findings=(finding(series="query:x\r\nBcc: everyone@example.com"),)))
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]


def test_headers_and_bytes_are_stable_per_digest_and_recipient() -> None:
    first = render_email(sample_digest(), sender="b@example.com", recipient="team@shop.example")
    again = render_email(sample_digest(), sender="b@example.com", recipient="team@shop.example")
    other = render_email(sample_digest(), sender="b@example.com", recipient="boss@shop.example")
    assert first.as_bytes() == again.as_bytes()
    assert first["Message-ID"] != other["Message-ID"]
    assert _render()["Date"] == "Fri, 20 Nov 2026 07:00:00 +0000"


def test_the_message_is_7bit_clean_with_short_lines_so_any_relay_accepts_it() -> None:
    digest = sample_digest(findings=(finding(series="landingPage:/café/über-uns"),))
    raw = render_email(digest, sender="b@example.com", recipient="team@shop.example").as_bytes()
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\n")) <= 78


def test_twelve_findings_with_charts_stay_well_under_250_kb() -> None:
    raw = render_email(sample_digest(findings=_many(12)), sender="b@x.io", recipient="t@x.io").as_bytes()
    assert len(raw) < 250_000


def test_hostile_page_in_a_contributor_is_escaped() -> None:
    html = _html(_render())
    assert "script" not in _tags(html)
    assert "source &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def _tags(html: str) -> set[str]:
    """The elements the HTML really holds (text in attribute values is not markup)."""
    found: set[str] = set()

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: object) -> None:
            found.add(tag)

    Collector().feed(html)
    return found
