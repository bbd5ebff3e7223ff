"""The demo digest as a reader gets it: ``python -m benchmarks.email_layout``.

Runs ``barometer demo`` into a temporary outbox and prints the email's size, its layout in
Debian's headless Chromium at 375 and 1,024 CSS pixels (page width and height; a width above
the screen's means sideways scrolling), and the Slack header's and summary's lengths. The
page is measured inside a frame of the given width (a headless window has a minimum width of
its own). Needs ``/usr/bin/chromium``.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import shutil
import subprocess
import tempfile
from email.message import EmailMessage
from pathlib import Path

from worker.demo import run_demo
from worker.settings import Settings

WIDTHS = (375, 1024)


def _html_with_images(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    html = str(part.get_content())
    for p in message.walk():
        if p.get_content_type() == "image/png":
            cid = str(p["Content-ID"]).strip("<>")
            data = base64.b64encode(bytes(p.get_payload(decode=True))).decode()
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    return html


def measure(html: str, directory: Path, width: int) -> tuple[int, int]:
    """(scroll width, scroll height) of ``html`` laid out ``width`` pixels wide."""
    page, outer = directory / f"page{width}.html", directory / f"frame{width}.html"
    page.write_text(html, encoding="utf-8")
    outer.write_text(
        f'<html><body style="margin:0"><iframe id="f" src="{page.name}" style="width:{width}px;height:900px;border:0">'
        "</iframe><script>document.getElementById('f').addEventListener('load', () => {"
        "const d = document.getElementById('f').contentDocument.documentElement;"
        "document.title = 'M:' + d.scrollWidth + 'x' + d.scrollHeight; });</script></body></html>",
        encoding="utf-8",
    )
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={directory / 'profile'}", "--window-size=1200,900", "--virtual-time-budget=5000",
         "--dump-dom", outer.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    found = re.search(r"<title>M:(\d+)x(\d+)</title>", out)
    if not found:
        raise SystemExit("chromium did not report the layout")
    return int(found.group(1)), int(found.group(2))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        run_demo(Settings(), outbox=directory / "outbox", database_url=f"sqlite:///{directory / 'demo.db'}")
        [eml] = (directory / "outbox").glob("*.eml")
        raw = eml.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        html = _html_with_images(message)
        print(f"email: {len(raw) / 1024:,.0f} KB, subject {str(message['Subject'])!r}")
        for width in WIDTHS:
            page_width, height = measure(html, directory, width)
            fits = "fits" if page_width <= width else "scrolls sideways"
            print(f"  at {width:>5,} px: page {page_width:,} px wide ({fits}), {height:,} px tall")
        [slack_file] = (directory / "outbox").glob("*.slack.json")
        blocks = json.loads(slack_file.read_text(encoding="utf-8"))["blocks"]
        header = blocks[0]["text"]["text"]
        summaries = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        print(f"slack: header {len(header)} characters {header!r}, first section {len(summaries[0])} characters")


if __name__ == "__main__":
    main()
