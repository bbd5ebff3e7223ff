"""The email digest as a mail client sees it: parsed back from its bytes."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from email.message import EmailMessage

from alerts.render.email import render_email
from jobs.domain import Decomposition, Factor, Finding, Kind, Severity
from tests.fakes import CLICKS_BY_CTR, HOSTILE_PAGE, finding, sample_digest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _roundtrip(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _render(**kwargs: object) -> EmailMessage:
    digest = kwargs.pop("digest", sample_digest())
    return _roundtrip(
        render_email(digest, sender="Barometer <barometer@example.com>", recipient="team@shop.example", **kwargs)  # type: ignore[arg-type]
    )


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_subject_names_the_count_the_property_and_the_biggest_changes() -> None:
    message = _render()
    assert message["Subject"] == "4 changes on shop: key events down 98%, sessions down 41%, ..."


def test_subject_of_an_empty_digest_says_all_quiet() -> None:
    message = _render(digest=sample_digest(findings=()))
    assert message["Subject"] == "All quiet on shop for 2026-11-18"
    assert "Nothing unusual" in _text(message)
    assert "Nothing unusual" in _html(message)
    assert not [p for p in message.walk() if p.get_content_type() == "image/png"]


def test_message_is_alternative_text_and_related_html_with_one_inline_png_per_finding() -> None:
    message = _render()
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = list(message.iter_parts())
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = list(related.iter_parts())
    assert html_part.get_content_type() == "text/html"
    assert len(images) == 4
    html = str(html_part.get_content())
    for image in images:
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        assert image.get_content().startswith(PNG_MAGIC)
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html


def test_a_finding_without_chart_data_gets_no_image() -> None:
    digest = sample_digest(findings=(finding(), finding(metric="keyEvents", with_chart=False)))
    images = [p for p in _render(digest=digest).walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1


def test_headers_carry_sender_recipient_date_and_a_message_id_stable_per_digest_and_recipient() -> None:
    first, again = _render(), _render()
    other = _roundtrip(render_email(sample_digest(), sender="barometer@example.com", recipient="boss@shop.example"))
    assert first["From"] == "Barometer <barometer@example.com>"
    assert first["To"] == "team@shop.example"
    assert first["Date"] == "Fri, 20 Nov 2026 07:00:00 +0000"
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@example.com>")
    assert other["Message-ID"] != first["Message-ID"]
    assert _render(digest=sample_digest(digest_id=8))["Message-ID"] != first["Message-ID"]


def test_each_finding_shows_its_facts_in_html_and_text() -> None:
    message = _render(base_url="https://barometer.example/")
    for body in (_visible(_html(message)), _text(message)):
        assert "Key events down 98%" in body
        assert "tracking outage" in body
        assert "critical" in body
        assert "4 (-98%)" in body
        assert "200 (range 170 – 230)" in body
        assert "Landing page /checkout" in body
        assert "76%" in body
        assert "Channel Organic Search" in body
        assert "Clicks up 200% on Query “running shoes”" in body
        assert "Search Console data for 2026-11-18 is still provisional." in body
        assert "Key events collapsed on shop" in body
    assert 'href="https://barometer.example/findings/101"' in _html(message)
    assert "Details: https://barometer.example/findings/101" in _text(message)


def test_hostile_page_names_are_escaped_in_html() -> None:
    html = _html(_render())
    assert HOSTILE_PAGE not in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_hostile_names_stay_on_one_line_in_the_text_part() -> None:
    sneaky = finding(series="query:shoes\n\nACTION REQUIRED: reset your password", severity=Severity.LOW)
    text = _text(_render(digest=sample_digest(findings=(sneaky,))))
    assert "Series:   Query “shoes ACTION REQUIRED: reset your password”" in text
    assert "\nACTION REQUIRED" not in text


def test_hostile_names_cannot_inject_headers_into_the_subject() -> None:
    sneaky = finding(series="query:x\r\nBcc: everyone@example.com")
    message = _render(digest=sample_digest(findings=(sneaky,)))
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]


def test_rendering_the_same_digest_twice_gives_the_same_bytes() -> None:
    first = render_email(sample_digest(), sender="b@example.com", recipient="team@shop.example")
    again = render_email(sample_digest(), sender="b@example.com", recipient="team@shop.example")
    assert first.as_bytes() == again.as_bytes()


def test_the_message_is_7bit_clean_with_short_lines_so_any_relay_accepts_it() -> None:
    digest = sample_digest(findings=(finding(series="landingPage:/café/über-uns"),))
    raw = render_email(digest, sender="b@example.com", recipient="team@shop.example").as_bytes()
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\n")) <= 78
    assert "Landing page /café/über-uns" in _text(_roundtrip(render_email(digest, sender="b@x.io", recipient="t@x.io")))


def _split_findings() -> tuple[Finding, ...]:
    """A CTR drop that cost clicks, the clicks themselves, and sessions next to a conversion break."""
    ctr = CLICKS_BY_CTR.factors[1]
    query = "query:running shoes"
    by_ctr = finding(metric="ctr", series=query, observed=ctr.observed, expected=ctr.expected, kind=Kind.RATE_CHANGE)
    clicks = finding(metric="clicks", series=query, observed=113.0, expected=263.34, property="shop-gsc")
    conversion_break = Decomposition(
        "keyEvents", 0.0, 51.8, (Factor("sessions", 681.0, 1093.0), Factor("conversion rate", 0.0, 0.0474))
    )
    sessions = finding(observed=681.0, expected=1093.0, decomposition=conversion_break)
    return (
        replace(by_ctr, decomposition=CLICKS_BY_CTR),
        replace(clicks, decomposition=CLICKS_BY_CTR),
        sessions,
    )


def test_a_product_metric_says_which_factor_drove_it_in_html_and_text() -> None:
    message = _render(digest=sample_digest(findings=_split_findings()))
    for body in (_visible(_html(message)), _text(message)):
        # on the CTR finding: what it did to the clicks, in the same numbers as its title
        assert "CTR down 54% on Query “running shoes”" in body
        assert "Clicks -57%, driven by CTR (-54%); impressions -6.0%" in body
        # on the clicks finding, whose title already says -57%: only the split
        assert "Clicks down 57% on Query “running shoes”" in body
        assert "Driven by CTR (-54%); impressions -6.0%" in body
        # sessions did not drive the key events (the conversions broke): that is told elsewhere
        assert "conversion rate" not in body
    text = _text(message)
    assert "   Expected: 2.09% (range 1.77% – 2.40%)\n   Clicks -57%, driven by CTR (-54%); impressions -6.0%\n" in text


def test_hostile_names_in_a_decomposition_are_escaped() -> None:
    hostile = Decomposition(
        "clicks", 10.0, 100.0, (Factor("impressions", 95.0, 100.0), Factor(HOSTILE_PAGE, 10 / 95, 1.0))
    )
    digest = sample_digest(findings=(finding(metric="clicks", observed=10.0, expected=100.0, decomposition=hostile),))
    message = _render(digest=digest)
    html = _html(message)
    assert "<script" not in html
    assert "Driven by &lt;script&gt;alert(1)&lt;/script&gt; (-89%); impressions -5.0%" in html
    assert "Driven by <script>alert(1)</script> (-89%); impressions -5.0%" in _text(message)


def test_a_conversion_rate_reads_in_percent() -> None:
    rate = finding(metric="sessionKeyEventRate", observed=0.021, expected=0.042, kind=Kind.RATE_CHANGE)
    message = _render(digest=sample_digest(findings=[rate]))
    for body in (_visible(_html(message)), _text(message)):
        assert "Session key event rate down 50%" in body
        assert "2.10% (-50%)" in body
        assert "4.20% (range 3.57% – 4.83%)" in body
