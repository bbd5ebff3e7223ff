"""SlackWebhookChannel through the real slack_sdk client against a local fake webhook."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from alerts.channels import SlackWebhookChannel
from alerts.errors import DeliveryError
from tests.fakes import sample_digest
from tests.fakes.slack import FakeSlackWebhook
from tests.fakes.smtp import free_port


class Sleeps:
    """Records requested waits instead of waiting (the clock is a collaborator)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _channel(url: str, sleeps: Sleeps | None = None) -> SlackWebhookChannel:
    return SlackWebhookChannel(url=SecretStr(url), timeout=5, sleep=sleeps or Sleeps())


def test_the_block_kit_digest_is_posted_once() -> None:
    with FakeSlackWebhook() as hook:
        _channel(hook.url).send(sample_digest(), recipient="#marketing")
    [body] = hook.bodies
    assert body["text"] == "Key events tracking stopped; sessions fell 41% (4 changes on shop)"
    assert body["blocks"][0]["type"] == "header"
    assert body["unfurl_links"] is False


def test_429_waits_for_retry_after_once_then_succeeds() -> None:
    sleeps = Sleeps()
    with FakeSlackWebhook() as hook:
        hook.respond((429, "rate_limited", {"Retry-After": "1"}))
        _channel(hook.url, sleeps).send(sample_digest(), recipient="#marketing")
    assert len(hook.bodies) == 2
    assert sleeps.waits == [1.0]


def test_429_twice_is_transient() -> None:
    with FakeSlackWebhook() as hook:
        hook.respond((429, "rate_limited", {"Retry-After": "2"}), (429, "rate_limited", {"Retry-After": "2"}))
        with pytest.raises(DeliveryError, match="rate limited twice") as caught:
            _channel(hook.url).send(sample_digest(), recipient="#marketing")
    assert caught.value.transient is True
    assert len(hook.bodies) == 2


def test_a_retry_after_beyond_the_bound_is_not_waited_for() -> None:
    sleeps = Sleeps()
    with FakeSlackWebhook() as hook:
        hook.respond((429, "rate_limited", {"Retry-After": "600"}))
        with pytest.raises(DeliveryError, match=r"retry after 600s") as caught:
            _channel(hook.url, sleeps).send(sample_digest(), recipient="#marketing")
    assert caught.value.transient is True
    assert sleeps.waits == []
    assert len(hook.bodies) == 1


def test_a_server_error_is_transient() -> None:
    with FakeSlackWebhook() as hook:
        hook.respond((500, "rollup_error", {}))
        with pytest.raises(DeliveryError, match=r"slack webhook '#marketing': HTTP 500 rollup_error") as caught:
            _channel(hook.url).send(sample_digest(), recipient="#marketing")
    assert caught.value.transient is True


@pytest.mark.parametrize(("status", "body"), [(404, "no_service"), (403, "invalid_token"), (400, "invalid_payload")])
def test_client_errors_are_permanent(status: int, body: str) -> None:
    with FakeSlackWebhook() as hook:
        hook.respond((status, body, {}))
        with pytest.raises(DeliveryError, match=f"HTTP {status} {body}") as caught:
            _channel(hook.url).send(sample_digest(), recipient="#marketing")
    assert caught.value.transient is False


def test_an_unreachable_webhook_is_transient_and_the_url_stays_secret(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T1/B2/topsecret"
    channel = _channel(url)
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as caught:
        channel.send(sample_digest(), recipient="#marketing")
    assert caught.value.transient is True
    assert "topsecret" not in str(caught.value)
    assert "topsecret" not in repr(channel)
    assert "topsecret" not in caplog.text


def test_the_url_is_not_logged_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with FakeSlackWebhook() as hook, caplog.at_level(logging.DEBUG):
        hook.respond((429, "rate_limited", {"Retry-After": "0"}))
        _channel(hook.url).send(sample_digest(), recipient="#marketing")
    assert "XXXXXXXX" not in caplog.text
    assert "/services/" not in caplog.text
