"""SlackApiChannel through the real slack_sdk WebClient against a local fake Web API."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from alerts.channels import SlackApiChannel
from alerts.errors import DeliveryError
from jobs.domain import Kind
from tests.fakes import finding, sample_digest
from tests.fakes.slack import FakeSlackApi
from tests.fakes.smtp import free_port

TOKEN = "xoxb-test-token"
CHANNEL = "C0123456789"


class Sleeps:
    """Records requested waits instead of waiting (the clock is a collaborator)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _channel(api: FakeSlackApi, *, token: str = TOKEN, sleeps: Sleeps | None = None) -> SlackApiChannel:
    return SlackApiChannel(token=SecretStr(token), base_url=api.url, timeout=5, sleep=sleeps or Sleeps())


def test_the_digest_is_posted_once_with_unfurling_and_link_names_off() -> None:
    with FakeSlackApi() as api:
        _channel(api).send(sample_digest(), recipient=CHANNEL)
    [post] = api.posts
    assert post["channel"] == CHANNEL
    assert post["text"] == "Key events tracking stopped; sessions fell 41% (4 changes on shop)"
    assert post["blocks"][0]["type"] == "header"
    assert (post["unfurl_links"], post["unfurl_media"], post["link_names"]) == (False, False, False)
    assert api.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_query_named_channel_mention_never_pings() -> None:
    hostile = finding(
        metric="clicks",
        series="query:<!channel> <@U123> & <https://evil.example|click>",
        kind=Kind.SPIKE,
        observed=900.0,
        expected=300.0,
    )
    with FakeSlackApi() as api:
        _channel(api).send(sample_digest(findings=(hostile,)), recipient=CHANNEL)
    raw = api.requests[0].body.decode()
    assert "<!channel>" not in raw
    assert "<@U123>" not in raw
    assert "<https://evil.example" not in raw
    assert "&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;https://evil.example|click&gt;" in json.dumps(api.posts[0])


def test_429_waits_for_retry_after_once_then_succeeds() -> None:
    sleeps = Sleeps()
    with FakeSlackApi() as api:
        api.respond((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}))
        _channel(api, sleeps=sleeps).send(sample_digest(), recipient=CHANNEL)
    assert len(api.requests) == 2
    assert len(api.posts) == 1
    assert sleeps.waits == [3.0]


def test_429_twice_is_transient() -> None:
    with FakeSlackApi() as api:
        api.respond(*[(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})] * 2)
        with pytest.raises(DeliveryError, match="rate limited twice") as caught:
            _channel(api).send(sample_digest(), recipient=CHANNEL)
    assert caught.value.transient is True
    assert api.posts == []


def test_a_long_retry_after_is_not_waited_for() -> None:
    sleeps = Sleeps()
    with FakeSlackApi() as api:
        api.respond((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "900"}))
        with pytest.raises(DeliveryError, match=r"retry after 900s") as caught:
            _channel(api, sleeps=sleeps).send(sample_digest(), recipient=CHANNEL)
    assert caught.value.transient is True
    assert sleeps.waits == []


def test_invalid_auth_is_permanent_and_the_token_stays_secret(caplog: pytest.LogCaptureFixture) -> None:
    with FakeSlackApi() as api, caplog.at_level(logging.DEBUG):
        channel = _channel(api, token="xoxb-wrong-secret")
        with pytest.raises(DeliveryError) as caught:
            channel.send(sample_digest(), recipient=CHANNEL)
    assert str(caught.value) == f"slack channel {CHANNEL!r}: invalid_auth (check the bot token)"
    assert caught.value.transient is False
    assert "wrong-secret" not in repr(channel)
    assert "wrong-secret" not in caplog.text


def test_an_unknown_channel_is_permanent() -> None:
    with FakeSlackApi() as api, pytest.raises(DeliveryError, match="channel_not_found") as caught:
        _channel(api).send(sample_digest(), recipient="#nope")
    assert caught.value.transient is False
    assert api.posts == []


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (500, {"ok": False, "error": "internal_error"}, True),
        (200, {"ok": False, "error": "service_unavailable"}, True),
        (502, "<html>bad gateway</html>", True),
        (200, {"ok": False, "error": "not_in_channel"}, False),
        (200, {"ok": False, "error": "msg_too_long"}, False),
    ],
)
def test_errors_are_classified(status: int, body: object, transient: bool) -> None:
    with FakeSlackApi() as api:
        api.respond((status, body, {}))  # type: ignore[arg-type]
        with pytest.raises(DeliveryError) as caught:
            _channel(api).send(sample_digest(), recipient=CHANNEL)
    assert caught.value.transient is transient


def test_an_unreachable_api_is_transient() -> None:
    channel = SlackApiChannel(token=SecretStr(TOKEN), base_url=f"http://127.0.0.1:{free_port()}/api/", timeout=5)
    with pytest.raises(DeliveryError, match="slack channel") as caught:
        channel.send(sample_digest(), recipient=CHANNEL)
    assert caught.value.transient is True
    assert TOKEN not in str(caught.value)
