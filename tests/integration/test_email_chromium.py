"""The HTML email as a reader sees it: rendered by headless Chromium to a PNG.

Chromium comes from the system (Debian package ``chromium``). Without it the test is
skipped with a message; under CI (``CI=true``) it fails instead, and ``.ci/run``
installs the package when missing, so a green CI run really rendered the email.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alerts.render.email import render_email
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
