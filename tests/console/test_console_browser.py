"""User journeys in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The console runs in uvicorn on 127.0.0.1 on the demo database and a fake clock; the
browser signs in through the form, clicks, and reads what a person would read. A page
that ran any script of its own (a hostile series name) would open a dialog: every
journey fails on one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from jobs.storage.tables import DeliveryRow
from tests.console.world import HOSTILE, PASSWORD, World, build_world
from worker import audit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("BAROMETER_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("browser"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _served(app: FastAPI, port: int) -> Iterator[str]:
    """``app`` in uvicorn on 127.0.0.1:``port`` for the block; its address."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # start-up only; no outcome depends on it
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with _served(world.app(), _free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    opened = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    opened.on("dialog", on_dialog)
    opened.on("console", on_console)
    yield opened
    context.close()
    assert dialogs == [], f"a page ran script: {dialogs}"
    assert [e for e in errors if "Content Security Policy" in e] == [], errors


def _sign_in(page: Page, name: str = "ana") -> None:
    page.goto("/findings")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/findings$"))


def test_sign_in_filter_findings_open_one_and_label_it(page: Page, world: World) -> None:
    p = page
    _sign_in(p)
    p.select_option("select[name=severity]", "critical")
    p.click("button:has-text('Filter')")
    p.wait_for_url(re.compile(r"severity=critical"))
    severities = p.locator("#findings tbody td:nth-child(6)").all_inner_texts()
    assert severities
    assert set(severities) == {"critical"}
    p.locator("#findings tbody a").first.click()
    p.wait_for_url(re.compile(r"/findings/\d+"))
    finding_id = int(p.url.rsplit("/", 1)[1].split("?")[0])
    assert p.locator(".chart svg path.actual").count() == 1
    p.fill("input[name=note]", "checked with the team")
    p.click("button[value=false_alarm]")
    p.wait_for_selector("text=Labelled false_alarm.")
    assert p.inner_text("#current-label") == "false_alarm"
    assert "checked with the team" in p.inner_text("#label-history")
    entry = audit.recent(world.engine, limit=1)[0]
    assert (entry.actor, entry.action, entry.target) == ("ana", "label", f"finding {finding_id}")


def test_create_a_mute(page: Page, world: World) -> None:
    p = page
    _sign_in(p)
    p.click("nav >> text=Mutes")
    p.fill("input[name=pattern]", "shop/keyEvents")
    p.fill("input[name=for]", "3d")
    p.fill("input[name=reason]", "tag migration")
    p.click("button:has-text('Mute')")
    p.wait_for_selector("#mutes >> text=tag migration")
    assert "shop/keyEvents" in p.inner_text("#mutes")


def test_preview_a_tuning_change_and_save_it(page: Page, world: World) -> None:
    p = page
    _sign_in(p)
    p.goto("/tuning?property=shop")
    p.fill("input[name=min_change_pct]", "5")
    p.click("button:has-text('Preview')")
    p.wait_for_selector("#count-proposed")
    assert p.inner_text("#count-proposed").startswith("0 ")
    assert p.url.endswith("/tuning?property=shop")  # swapped in place by htmx
    removed = p.locator("#removed li a")
    assert removed.count() > 0
    p.click("button:has-text('Save')")
    p.wait_for_selector("text=Saved shop/sessions.")
    assert "5.0" in p.inner_text("#saved-tuning")


def test_retry_a_failed_delivery(page: Page, world: World) -> None:
    dl = DeliveryRow.__table__  # type: ignore[attr-defined]
    with world.engine.begin() as conn:
        row = conn.execute(sa.select(dl.c.id).where(dl.c.channel == "file").order_by(dl.c.id)).first()
        assert row is not None
        conn.execute(sa.update(dl).where(dl.c.id == row[0]).values(status="failed", error="disk full", sent_at=None))
    p = page
    _sign_in(p)
    p.click("nav >> text=Deliveries")
    line = p.locator(f"#delivery-{row[0]}")
    assert "failed" in line.inner_text()
    line.locator("button:has-text('Retry')").click()
    p.wait_for_selector(f"text=delivery {row[0]} (file marketing@example.com): sent")
    assert "sent" in p.locator(f"#delivery-{row[0]} td:nth-child(7)").inner_text()


def test_a_hostile_series_name_executes_nothing(page: Page, world: World) -> None:
    p = page
    _sign_in(p)
    for path in ("/findings", f"/findings/{world.hostile_id}", "/"):
        p.goto(path)
        assert p.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    p.goto(f"/findings/{world.hostile_id}")
    shown = p.inner_text("h1")
    assert "<script>alert(1)</script>" in shown
    assert "[U+202E]gnp.exe" in shown
    assert HOSTILE not in shown


def test_sign_in_with_google_for_the_domain(browser: Browser, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Google button, the (fake) consent page on another origin, back signed in."""
    from tests.fakes.google import FakeOAuth
    from worker.web import create_app

    monkeypatch.setenv("GOOGLE_OAUTH_CLIENT_SECRET", "console-secret")
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    with FakeOAuth(now=world.clock) as google:
        google.sign_in("lea@shop.example", hd="shop.example")
        settings = world.settings.model_copy(
            update={
                "google": world.settings.google.model_copy(
                    update={
                        "oauth_client_id": "web-client",
                        "auth_uri": f"{google.url}/auth",
                        "token_uri": google.token_uri,
                    }
                ),
                "web": world.settings.web.model_copy(update={"public_url": origin, "google_domain": "shop.example"}),
            }
        )
        with _served(create_app(settings, now=world.clock), port):
            context = browser.new_context(base_url=origin)
            try:
                p = context.new_page()
                p.goto("/findings")
                p.click("text=Sign in with Google (shop.example)")
                p.wait_for_url(re.compile(r"/findings$"))
                assert "lea@shop.example" in p.inner_text("body")
                assert google.count("/auth") == 1
            finally:
                context.close()
