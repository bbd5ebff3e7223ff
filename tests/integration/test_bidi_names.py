"""Bidirectional control characters in page and query names (U+202A-U+202E,
U+2066-U+2069) never reach a reader raw: email (subject, text, HTML), Slack (webhook and
Web API), the webhook document, the LLM's facts and the CLI show them as a visible
``[U+202E]``, so ``/rtl-\\u202egnp.exe`` cannot pose as ``/rtl-exe.png``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.domain import Contributor, Kind
from jobs.naming import neutralise_bidi
from jobs.summary.facts import build_sheet
from tests.fakes import finding
from tests.fakes.slack import FakeSlackApi, FakeSlackWebhook
from tests.fakes.smtp import SmtpServer
from tests.fakes.webhook import FakeWebhook
from tests.integration.test_alerting import store
from worker import bootstrap, service
from worker.runtime import build as build_runtime
from worker.settings import (
    PropertySettings,
    Settings,
    SlackSettings,
    SMTPSettings,
    StorageSettings,
    SubscriptionSettings,
)

DAY = date(2026, 11, 16)
PAGE = "landingPage:/rtl-\u202egnp.exe"
QUERY = "query:free \u2066shoes\u2069 \u202adeal\u202c"
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def assert_neutral(text: str) -> None:
    found = sorted({f"U+{ord(ch):04X}" for ch in text if ch in BIDI})
    assert found == [], f"raw bidi controls {found} in {text[:200]!r}"


def test_neutralise_bidi_shows_each_control_and_keeps_the_rest() -> None:
    assert neutralise_bidi("/rtl-\u202egnp.exe") == "/rtl-[U+202E]gnp.exe"
    assert neutralise_bidi("\u2066a\u2069 b\u200f") == "[U+2066]a[U+2069] b[U+200F]"
    assert neutralise_bidi("/Pricing-ü") == "/Pricing-ü"


@dataclass
class Endpoints:
    smtp: SmtpServer
    hook: FakeSlackWebhook
    api: FakeSlackApi
    webhook: FakeWebhook


@pytest.fixture
def endpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoints]:
    with (
        SmtpServer() as smtp,
        FakeSlackWebhook() as hook,
        FakeSlackApi(token="xoxb-t", channels=("C0MARKETING",)) as api,
        FakeWebhook() as webhook,
    ):
        monkeypatch.setenv("SLACK_HOOK", hook.url)
        monkeypatch.setenv("SLACK_TOKEN", "xoxb-t")
        monkeypatch.setenv("HOOK_URL", webhook.url)
        yield Endpoints(smtp, hook, api, webhook)


def test_every_channel_shows_bidi_controls_neutralised(sqlite_url: str, endpoints: Endpoints) -> None:
    settings = Settings(
        storage=StorageSettings(database_url=sqlite_url),
        smtp=SMTPSettings(host="127.0.0.1", port=endpoints.smtp.port, starttls=False),
        slack=SlackSettings(api_url=endpoints.api.url),
        properties=(PropertySettings(name="shop", source="csv"),),
        subscriptions=(
            SubscriptionSettings(
                name="marketing",
                properties=("shop",),
                email=("team@shop.example",),
                slack_webhook_env="SLACK_HOOK",
                slack_bot_token_env="SLACK_TOKEN",
                slack_channel="C0MARKETING",
                webhook_url_env="HOOK_URL",
            ),
        ),
    )
    store(
        settings,
        DAY,
        finding(series=PAGE, observed=20, expected=300, contributors=(Contributor(QUERY, 5, 200, 0.7),)),
        finding(metric="clicks", series=QUERY, observed=900, expected=300, kind=Kind.SPIKE),
    )
    report = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: datetime(2026, 11, 17, 7, tzinfo=UTC)
    )
    bootstrap.forget_engine(sqlite_url)
    assert report.sent == 4

    message = endpoints.smtp.received[0].message
    subject = str(message["Subject"])
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    html = str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    for shown in (
        subject,
        text,
        html,
        json.dumps(endpoints.hook.bodies, ensure_ascii=False),
        json.dumps(endpoints.api.posts, ensure_ascii=False),
        json.dumps(endpoints.webhook.accepted, ensure_ascii=False),
    ):
        assert_neutral(shown)
    assert "/rtl-[U+202E]gnp.exe" in text
    assert "/rtl-[U+202E]gnp.exe" in json.dumps(endpoints.api.posts, ensure_ascii=False)
    assert endpoints.webhook.accepted[0]["incidents"][0]["lead"]["series"].endswith("[U+202E]gnp.exe") or any(
        "[U+202E]" in json.dumps(i, ensure_ascii=False) for i in endpoints.webhook.accepted[0]["incidents"]
    )


def test_llm_facts_show_bidi_controls_neutralised() -> None:
    sheet = build_sheet(
        [finding(series=PAGE, observed=20, expected=300, contributors=(Contributor(QUERY, 5, 200, 0.7),))],
        data_date=DAY,
        max_findings=5,
        max_contributors=3,
    )
    shown = json.dumps(sheet.payload(), ensure_ascii=False)
    assert_neutral(shown)
    assert "[U+202E]" in shown


def test_cli_output_shows_bidi_controls_neutralised(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    rows = ["date,series,metric,value"]
    last = date(2026, 11, 16)
    for n in range(70):
        day = last - timedelta(days=69 - n)
        rows.append(f"{day},total,sessions,{1000 + (n % 7) * 15}")
        rows.append(f"{day},{PAGE},sessions,{2000 if n == 69 else 100 + (n % 7) * 3}")
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    barometer = str(Path(sys.executable).with_name("barometer"))
    result = subprocess.run(
        [barometer, "detect", str(csv)], cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    decoded = [json.loads(line) for line in out.splitlines()]
    assert any(d["series"] == "landingPage:/rtl-[U+202E]gnp.exe" for d in decoded), out
    assert_neutral(out + "".join(json.dumps(d, ensure_ascii=False) for d in decoded))
