"""The HTML email as a reader sees it: rendered by headless Chromium to a PNG.

Chromium comes from the system (Debian package ``chromium``). Without it the test is
skipped with a message; under CI (``CI=true``) it fails instead, and ``.ci/run``
installs the package when missing, so a green CI run really rendered the email.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alerts.render.email import render_email
from alerts.render.links import Links
from alerts.signing import Signer
from jobs.domain import Contributor, Digest, HeldBack, Incident, Kind, Severity
from tests.fakes import HOSTILE_PAGE, finding, sample_digest

WIDTH, HEIGHT = 800, 1400
#: The colour of the "actual" line in every chart (alerts.charts._ACTUAL): proof the images showed.
CHART_LINE = np.array([0x1F, 0x4E, 0x79])


def chromium() -> str:
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found:
        return found
    message = "chromium is not installed (Debian: apt-get install chromium); it renders the HTML email to a PNG"
    if os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("BAROMETER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}; required under CI (.ci/run installs it)")
    pytest.skip(message)


def inline_images(message: EmailMessage) -> str:
    """The HTML part with each ``cid:`` reference replaced by a ``data:`` URI of its image,
    which is what a mail client does with multipart/related parts."""
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    for part in message.walk():
        if part.get_content_type() == "image/png":
            cid = str(part["Content-ID"]).strip("<>")
            data = base64.b64encode(bytes(part.get_payload(decode=True))).decode()
            assert f"cid:{cid}" in html
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    assert "cid:" not in html
    return html


def screenshot(html: str, directory: Path) -> Path:
    page, png = directory / "digest.html", directory / "digest.png"
    page.write_text(html, encoding="utf-8")
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={directory / 'profile'}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png


def digest_to_render() -> Digest:
    """A realistic digest: a tracking break with what it suppressed, a site-wide drop with
    its parts, hostile names, a notice and a held-back problem."""
    organic = "sessionDefaultChannelGroup:Organic Search"
    outage = finding(
        metric="keyEvents",
        observed=0,
        expected=52,
        kind=Kind.OUTAGE,
        severity=Severity.CRITICAL,
        finding_id=11,
        contributors=(Contributor(organic, 0, 26, 0.5),),
    )
    rate = finding(metric="sessionKeyEventRate", observed=0.0, expected=0.04, finding_id=12)
    sessions = finding(
        observed=681,
        expected=1093,
        finding_id=13,
        contributors=(Contributor(organic, 165, 499, 0.78), Contributor(f"landingPage:{HOSTILE_PAGE}", 20, 60, 0.1)),
    )
    users = finding(metric="totalUsers", observed=543, expected=878, finding_id=14)
    page = finding(
        series=f"landingPage:{HOSTILE_PAGE}", observed=20, expected=300, severity=Severity.MEDIUM, finding_id=15
    )
    ongoing = finding(
        metric="clicks",
        series="query:<!channel> running shoes",
        observed=5,
        expected=90,
        kind=Kind.LEVEL_SHIFT,
        finding_id=16,
    )
    base = sample_digest(findings=(outage, sessions, users, page))
    return replace(
        base,
        headline="Key events stopped on shop; sessions down 38%",
        incidents=(
            Incident((outage,), suppressed=(rate,), note="already alerted at 06:12 UTC (immediate alert)"),
            Incident((sessions, users, page)),
        ),
        held_back=(HeldBack(ongoing, "ongoing: alerted on 2026-11-16 and not worse since"),),
    )


def test_the_html_email_renders_as_a_readable_page_with_its_charts(tmp_path: Path) -> None:
    digest = digest_to_render()
    message = render_email(digest, sender="barometer@example.com", recipient="team@shop.example")
    html = inline_images(message)
    assert "<script>" not in html
    png = screenshot(html, tmp_path)

    image = Image.open(png).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    pixels = np.asarray(image, dtype=np.int16)
    assert pixels.std() > 20  # not a blank page
    background = pixels[5, 5]
    content = np.any(np.abs(pixels - background) > 12, axis=2)
    rows_with_content = content.any(axis=1).mean()
    assert rows_with_content > 0.5  # text and charts fill the page, top to bottom
    # the card is at most 640 px wide and centred: the outer margins stay background
    assert not content[:, :60].any()
    assert not content[:, -60:].any()
    # the charts were displayed (their "actual" line), not broken image icons
    line = np.all(np.abs(pixels - CHART_LINE) < 40, axis=2)
    assert line.sum() > 500


def measure(html: str, directory: Path, *, width: int) -> tuple[int, int]:
    """(scroll width, scroll height) of ``html`` laid out ``width`` CSS pixels wide in Chromium.

    The page sits in a frame of that width (a headless window has a minimum width of its own,
    a frame does not); a script in the outer page writes the frame's measurements into its
    title, and ``--dump-dom`` prints the DOM once the page has loaded.
    """
    page, outer = directory / f"digest-{width}.html", directory / f"frame-{width}.html"
    page.write_text(html, encoding="utf-8")
    outer.write_text(
        f'<html><body style="margin:0"><iframe id="f" src="{page.name}" style="width:{width}px;height:900px;border:0">'
        "</iframe><script>document.getElementById('f').addEventListener('load', () => {"
        "const d = document.getElementById('f').contentDocument.documentElement;"
        "document.title = 'M:' + d.scrollWidth + 'x' + d.scrollHeight; });</script></body></html>",
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--allow-file-access-from-files",
            f"--user-data-dir={directory / 'profile-measure'}",
            "--window-size=1200,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
            outer.as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r"<title>M:(\d+)x(\d+)</title>", out)
    assert found, out[-500:]
    return int(found.group(1)), int(found.group(2))


def demo_like_digest() -> Digest:
    """Six incidents as the demo has them: long page URLs, a query, a tracking break."""
    long_page = "page:https://shop.example/guides/sizing-and-fit-for-every-running-shoe-model-" + "x" * 60
    organic = Contributor("sessionDefaultChannelGroup:Organic Search", 179, 548, 0.78)
    medium = Severity.MEDIUM
    findings = (
        finding(metric="keyEvents", observed=0, expected=46, kind=Kind.OUTAGE, severity=Severity.CRITICAL),
        finding(metric="impressions", series=long_page, observed=13, expected=6147, kind=Kind.LEVEL_SHIFT),
        finding(observed=720, expected=1179, contributors=(organic,)),
        finding(series="landingPage:/blog/launch", observed=95, expected=32.4, kind=Kind.SPIKE, severity=medium),
        finding(metric="impressions", series="query:shoe size guide", observed=562, expected=2540, severity=medium),
        finding(metric="clicks", series="page:/shoes/running", observed=110, expected=256, severity=medium),
    )
    lead = "6 changes on shop. The biggest: key events tracking stopped."
    return replace(sample_digest(findings=findings), summary=lead)


@pytest.mark.parametrize("width", [375, 1024])
def test_the_digest_fits_a_phone_and_a_desktop_without_sideways_scrolling(tmp_path: Path, width: int) -> None:
    links = Links(
        public_url="https://barometer.example",
        signer=Signer(b"k" * 32),
        now=datetime(2026, 11, 20, tzinfo=UTC),
        reports={"shop": ("ga4", "properties/123456789")},
    )  # report and feedback buttons too: they must wrap, not overflow
    message = render_email(
        demo_like_digest(), sender="barometer@example.com", recipient="team@shop.example", links=links
    )
    assert len(message.as_bytes()) < 250_000
    html = inline_images(message)
    scroll_width, height = measure(html, tmp_path, width=width)
    assert scroll_width <= width  # nothing overflows sideways
    assert height < 3500  # five incidents in full, one line for the sixth: about two phone screens per incident
