"""Every channel a subscription can have, at once, through the service: STARTTLS SMTP with
login, a Slack webhook, the Slack Web API and a signed JSON webhook, with hostile page
and query names. Each message arrives once, escaped where it is markup, and a re-run
sends nothing new."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.domain import Contributor, DeliveryStatus, Kind, Severity
from tests.fakes import HOSTILE_PAGE, finding
from tests.fakes.slack import FakeSlackApi, FakeSlackWebhook
from tests.fakes.smtp import SmtpServer, self_signed_tls
from tests.fakes.webhook import FakeWebhook
from tests.integration.test_alerting import store
from worker import service
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
HOSTILE_QUERY = "query:<!channel> free shoes & <https://evil.example|click here>"


@dataclass
class Endpoints:
    smtp: SmtpServer
    hook: FakeSlackWebhook
    api: FakeSlackApi
    webhook: FakeWebhook


@pytest.fixture
def endpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoints]:
    tls = self_signed_tls(tmp_path)
    # The service builds its SMTP TLS context from the system trust store; trust our test CA there.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "smtp-cert.pem"))
    with (
        SmtpServer(tls=tls, credentials=("barometer", "mail-pass")) as smtp,
        FakeSlackWebhook() as hook,
        FakeSlackApi(token="xoxb-bot-token", channels=("C0MARKETING",)) as api,
        FakeWebhook(secret="hook-secret") as webhook,
    ):
        monkeypatch.setenv("SMTP_PASSWORD", "mail-pass")
        monkeypatch.setenv("SLACK_WEBHOOK_MARKETING", hook.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-bot-token")
        monkeypatch.setenv("MARKETING_WEBHOOK_URL", webhook.url)
        monkeypatch.setenv("MARKETING_WEBHOOK_SECRET", "hook-secret")
        yield Endpoints(smtp, hook, api, webhook)


def _settings(url: str, endpoints: Endpoints, **subscription: object) -> Settings:
    sub = {
        "name": "marketing",
        "properties": ("shop",),
        "email": ("team@shop.example",),
        "slack_webhook_env": "SLACK_WEBHOOK_MARKETING",
        "slack_bot_token_env": "SLACK_BOT_TOKEN",
        "slack_channel": "C0MARKETING",
        "webhook_url_env": "MARKETING_WEBHOOK_URL",
        "webhook_secret_env": "MARKETING_WEBHOOK_SECRET",
        **subscription,
    }
    return Settings(
        storage=StorageSettings(database_url=url),
        smtp=SMTPSettings(host="127.0.0.1", port=endpoints.smtp.port, starttls=True, username="barometer"),
        slack=SlackSettings(api_url=endpoints.api.url, timeout_seconds=5),
        properties=(PropertySettings(name="shop", source="csv"),),
        subscriptions=(SubscriptionSettings(**sub),),
    )


def _hostile_day(settings: Settings) -> None:
    store(
        settings,
        DAY,
        finding(
            observed=600,
            expected=1000,
            contributors=(Contributor(f"landingPage:{HOSTILE_PAGE}", 20, 300, 0.7),),
        ),
        finding(series=f"landingPage:{HOSTILE_PAGE}", observed=20, expected=300, severity=Severity.MEDIUM),
        finding(metric="clicks", series=HOSTILE_QUERY, observed=900, expected=300, kind=Kind.SPIKE),
    )


def test_each_channel_gets_the_digest_once_escaped(sqlite_url: str, endpoints: Endpoints) -> None:
    settings = _settings(sqlite_url, endpoints)
    _hostile_day(settings)
    now = datetime(2026, 11, 17, 7, 0, tzinfo=UTC)
    first = service.deliver_subscription(build_runtime(settings), "marketing", data_date=DAY, now=lambda: now)
    again = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: now + timedelta(hours=1)
    )

    assert sorted((d.channel, d.recipient, d.status) for d in first.deliveries) == [
        ("email", "team@shop.example", DeliveryStatus.SENT),
        ("slack", "SLACK_WEBHOOK_MARKETING", DeliveryStatus.SENT),
        ("slack_api", "C0MARKETING", DeliveryStatus.SENT),
        ("webhook", "MARKETING_WEBHOOK_URL", DeliveryStatus.SENT),
    ]
    assert again.deliveries == first.deliveries
    assert (len(endpoints.smtp.received), len(endpoints.hook.bodies), len(endpoints.api.posts)) == (1, 1, 1)
    assert len(endpoints.webhook.accepted) == 1

    message = endpoints.smtp.received[0].message
    assert message["Subject"].startswith("Clicks on the query “<!channel> free shoes & <https://evil.example|click")
    assert message["Subject"].endswith("(2 changes on shop)")
    html = message.get_body(("html",))
    assert html is not None
    assert "<script>" not in str(html.get_content())
    for slack in (endpoints.hook.bodies[0], endpoints.api.posts[0]):
        raw = json.dumps(slack)
        assert "<!channel>" not in raw
        assert "<https://evil.example" not in raw
        assert "&lt;!channel&gt; free shoes &amp; &lt;https://evil.example|click here&gt;" in raw
        assert slack["unfurl_links"] is False
    assert endpoints.api.posts[0]["link_names"] is False
    doc = endpoints.webhook.accepted[0]
    assert doc["incidents"][0]["lead"]["series"] == HOSTILE_QUERY  # raw data, signed (the fake checked it)


def test_slack_rate_limits_are_waited_out_and_nothing_is_doubled(sqlite_url: str, endpoints: Endpoints) -> None:
    settings = _settings(sqlite_url, endpoints)
    _hostile_day(settings)
    endpoints.api.respond((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))
    endpoints.hook.respond((429, "rate_limited", {"Retry-After": "0"}))
    now = datetime(2026, 11, 17, 7, 0, tzinfo=UTC)
    report = service.deliver_subscription(build_runtime(settings), "marketing", data_date=DAY, now=lambda: now)
    assert report.sent == 4
    assert (len(endpoints.api.requests), len(endpoints.api.posts)) == (2, 1)
    assert len(endpoints.hook.bodies) == 2  # the 429'd attempt and the accepted one


def test_an_unset_secret_fails_that_delivery_loudly_and_the_others_still_go_out(
    sqlite_url: str, endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    settings = _settings(sqlite_url, endpoints)
    _hostile_day(settings)
    report = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: datetime(2026, 11, 17, 7, 0, tzinfo=UTC)
    )
    failed = [d for d in report.deliveries if d.status is DeliveryStatus.FAILED]
    assert [(d.channel, d.error) for d in failed] == [
        ("slack_api", "slack_api 'C0MARKETING': environment variable SLACK_BOT_TOKEN is not set")
    ]
    assert report.sent == 3
    assert endpoints.api.requests == []


def test_a_wrong_bot_token_or_channel_is_a_permanent_failure(sqlite_url: str, endpoints: Endpoints) -> None:
    settings = _settings(sqlite_url, endpoints, slack_channel="#no-such-channel")
    _hostile_day(settings)
    report = service.deliver_subscription(
        build_runtime(settings), "marketing", data_date=DAY, now=lambda: datetime(2026, 11, 17, 7, 0, tzinfo=UTC)
    )
    [failed] = [d for d in report.deliveries if d.status is DeliveryStatus.FAILED]
    assert (
        failed.error
        == "slack channel '#no-such-channel': channel_not_found (check the channel id, and that the bot can see it)"
    )
    assert failed.attempts == 1
