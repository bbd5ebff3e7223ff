"""Sentry reporting through the real sentry-sdk against a local fake ingest server.

What ops see in Sentry: events arrive with secrets replaced by ``[Filtered]`` and no user
IP; without a DSN nothing leaves the process; cron check-ins arrive for monitored work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk

from tests.fakes.sentry import FakeSentry
from worker.observability import init_sentry, monitor
from worker.settings import ConfigError, Settings, load_settings

PASSWORD = "hunter2-Sm7p-pass"
LLM_KEY = "sk-test-4f9a8b7c6d5e"
WEBHOOK = "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx"
OTHER_WEBHOOK = "https://hooks.slack.com/services/T9999/B8888/zyxwvutsrqponmlkjihgfedc"

CONFIG = """
[sentry]
environment = "staging"
[llm]
provider = "openai"
model = "gpt-4.1-mini"
api_key_env = "BAROMETER_TEST_LLM_KEY"
[[properties]]
name = "demo"
source = "demo"
[[subscriptions]]
name = "marketing"
properties = ["demo"]
slack_webhook_env = "SLACK_WEBHOOK_MARKETING"
"""


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    with FakeSentry() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    path = tmp_path / "barometer.toml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("BAROMETER_TEST_LLM_KEY", LLM_KEY)
    monkeypatch.setenv("SLACK_WEBHOOK_MARKETING", WEBHOOK)
    return load_settings(path)


@pytest.fixture(autouse=True)
def _sentry_off_afterwards() -> Iterator[None]:
    """The SDK is process-global: each test gets its own scope and leaves no client behind."""
    with sentry_sdk.isolation_scope():
        yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def sentry_on(settings: Settings, fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch) -> FakeSentry:
    monkeypatch.setenv("SENTRY_DSN", fake_sentry.dsn)
    assert init_sentry(settings, release="barometer@test") is True
    return fake_sentry


def _only_event(fake: FakeSentry) -> dict[str, object]:
    sentry_sdk.flush()
    assert fake.rejected == []
    events = fake.events
    assert len(events) == 1, events
    return events[0]


def _assert_no_secrets(fake: FakeSentry) -> None:
    raw = fake.raw
    for secret in (PASSWORD, LLM_KEY, WEBHOOK, OTHER_WEBHOOK):
        assert secret.encode() not in raw, raw[max(0, raw.find(secret.encode()) - 300) :][:400]


def _fail_login(password: str) -> None:
    raise RuntimeError(f"SMTP login with {password} failed; tell {OTHER_WEBHOOK}")


def test_exception_arrives_with_secrets_filtered_and_no_pii(sentry_on: FakeSentry) -> None:
    logging.getLogger("barometer.test").warning("LLM call with key %s", LLM_KEY)
    try:
        _fail_login(PASSWORD)
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)

    event = _only_event(sentry_on)
    exception = event["exception"]["values"][0]  # type: ignore[index]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "SMTP login with [Filtered] failed; tell [Filtered]"
    frame_vars = exception["stacktrace"]["frames"][-1]["vars"]
    assert frame_vars["password"] == "[Filtered]"
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "barometer.test"]  # type: ignore[index]
    assert [c["message"] for c in crumbs] == ["LLM call with key [Filtered]"]
    assert event["environment"] == "staging"
    assert event["release"] == "barometer@test"
    assert "ip_address" not in event.get("user", {})  # type: ignore[operator]
    assert b"{{auto}}" not in sentry_on.raw
    assert sentry_sdk.get_client().should_send_default_pii() is False
    _assert_no_secrets(sentry_on)
    auth = sentry_on.envelopes[0].auth
    assert "sentry_key=public" in auth
    assert sentry_on.envelopes[0].project == "1"


def test_request_headers_extra_and_urls_are_filtered(sentry_on: FakeSentry) -> None:
    sentry_sdk.capture_event(
        {
            "message": "delivery failed for postgresql+psycopg://barometer:pg-Secret-9@db:5432/barometer",
            "level": "error",
            "request": {
                "url": "https://api.example.com/v1/chat",
                "method": "POST",
                "headers": {"Authorization": f"Bearer {LLM_KEY}", "X-Api-Key": "abc", "Accept": "application/json"},
            },
            "extra": {
                "smtp": {"password": "inline-pass", "host": "mail.example.com"},
                "note": "retry with token=tok_live_123456 later",
                "webhooks": [WEBHOOK],
                "client_secret": "cs-1",
            },
        }
    )

    event = _only_event(sentry_on)
    assert event["message"] == "delivery failed for postgresql+psycopg://barometer:[Filtered]@db:5432/barometer"
    assert event["request"]["headers"] == {  # type: ignore[index]
        "Authorization": "[Filtered]",
        "X-Api-Key": "[Filtered]",
        "Accept": "application/json",
    }
    extra = {k: v for k, v in event["extra"].items() if k != "sys.argv"}  # type: ignore[attr-defined]
    assert extra == {
        "smtp": {"password": "[Filtered]", "host": "mail.example.com"},
        "note": "retry with token=[Filtered] later",
        "webhooks": ["[Filtered]"],
        "client_secret": "[Filtered]",
    }
    for leaked in (b"pg-Secret-9", b"inline-pass", b"tok_live_123456", b"cs-1"):
        assert leaked not in sentry_on.raw
    _assert_no_secrets(sentry_on)


def test_logged_error_becomes_a_filtered_event(sentry_on: FakeSentry) -> None:
    logging.getLogger("barometer.channels").error("Slack rejected %s with password %s", WEBHOOK, PASSWORD)

    event = _only_event(sentry_on)
    assert event["logger"] == "barometer.channels"
    assert event["level"] == "error"
    assert event["logentry"]["params"] == ["[Filtered]", "[Filtered]"]  # type: ignore[index]
    assert "[Filtered]" in json.dumps(event)
    _assert_no_secrets(sentry_on)


def test_without_dsn_nothing_is_initialised_or_sent(
    settings: Settings, fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK itself would read SENTRY_DSN; barometer must only honour [sentry] dsn_env.
    monkeypatch.setenv("SENTRY_DSN", fake_sentry.dsn)
    monkeypatch.setenv("BAROMETER_SENTRY__DSN_ENV", "BAROMETER_TEST_UNSET_DSN")
    monkeypatch.delenv("BAROMETER_TEST_UNSET_DSN", raising=False)
    unset = Settings()
    assert unset.sentry.dsn_env == "BAROMETER_TEST_UNSET_DSN"

    assert init_sentry(unset) is False

    assert sentry_sdk.get_client().is_active() is False
    sentry_sdk.capture_exception(RuntimeError(PASSWORD))
    sentry_sdk.flush()
    assert fake_sentry.envelopes == []


def test_empty_dsn_counts_as_unset(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "")
    assert init_sentry(settings) is False
    assert sentry_sdk.get_client().is_active() is False


def test_malformed_dsn_names_the_variable_not_the_value(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "ftp://s3cr3t-key@sentry.example.com/1")
    with pytest.raises(ConfigError) as info:
        init_sentry(settings)
    assert str(info.value) == "SENTRY_DSN: not a valid Sentry DSN (expected https://KEY@HOST/PROJECT_ID)"


def test_monitor_sends_cron_check_ins(sentry_on: FakeSentry) -> None:
    with monitor("daily-digest"):
        pass
    with pytest.raises(ValueError, match="boom"), monitor("daily-digest"):
        raise ValueError("boom")
    sentry_sdk.flush()

    statuses = [(c["monitor_slug"], c["status"]) for c in sentry_on.check_ins]
    assert statuses == [
        ("daily-digest", "in_progress"),
        ("daily-digest", "ok"),
        ("daily-digest", "in_progress"),
        ("daily-digest", "error"),
    ]
    assert {c["environment"] for c in sentry_on.check_ins} == {"staging"}
