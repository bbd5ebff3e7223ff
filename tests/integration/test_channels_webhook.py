"""WebhookChannel against a local receiver that verifies signatures like a real one."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import replace

import pytest
from pydantic import SecretStr

from alerts.channels import WebhookChannel
from alerts.errors import DeliveryError
from jobs.domain import Incident
from tests.fakes import HOSTILE_PAGE, sample_digest
from tests.fakes.smtp import free_port
from tests.fakes.webhook import FakeWebhook

SECRET = "s3cret-signing-key"


def _channel(url: str, *, secret: str | None = SECRET, sleeps: list[float] | None = None) -> WebhookChannel:
    waits = sleeps if sleeps is not None else []
    return WebhookChannel(
        url=SecretStr(url),
        secret=SecretStr(secret) if secret else None,
        timeout=5,
        sleep=waits.append,
        clock=lambda: 1_800_000_000.0,
    )


def test_the_digest_arrives_as_signed_json_with_raw_strings() -> None:
    with FakeWebhook(secret=SECRET) as hook:
        _channel(hook.url).send(sample_digest(), recipient="MARKETING_WEBHOOK_URL")
    [doc] = hook.accepted
    assert (doc["type"], doc["version"], doc["id"], doc["subscription"]) == (
        "barometer.digest",
        1,
        "digest-7",
        "marketing",
    )
    assert doc["subject"] == "Key events tracking stopped; sessions fell 41% (4 changes on shop)"
    leads = [i["lead"] for i in doc["incidents"]]
    assert [lead["id"] for lead in leads] == [101, 102, 103, 104]
    assert leads[2]["series"] == f"landingPage:{HOSTILE_PAGE}"  # raw: escaping is the consumer's job
    assert leads[0]["kind"] == "outage"
    assert leads[0]["contributors"][0] == {
        "series": "landingPage:/checkout",
        "observed": 1.0,
        "expected": 150.0,
        "share": 0.76,
    }
    request = hook.requests[0]
    assert request.headers["X-Barometer-Event"] == "digest"
    assert request.headers["X-Barometer-Timestamp"] == "1800000000"
    expected = hmac.new(SECRET.encode(), b"1800000000." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Barometer-Signature"] == f"sha256={expected}"


def test_a_wrong_secret_is_rejected_by_the_receiver_and_is_permanent() -> None:
    with FakeWebhook(secret=SECRET) as hook, pytest.raises(DeliveryError, match="HTTP 401 bad signature") as caught:
        _channel(hook.url, secret="other").send(sample_digest(), recipient="HOOK")
    assert caught.value.transient is False
    assert hook.accepted == []


def test_the_delivery_id_is_the_same_on_every_retry_of_one_digest_and_recipient() -> None:
    with FakeWebhook() as hook:
        hook.respond((503, "busy", {}))
        with pytest.raises(DeliveryError, match="HTTP 503 busy") as caught:
            _channel(hook.url, secret=None).send(sample_digest(), recipient="HOOK")
        assert caught.value.transient is True
        _channel(hook.url, secret=None).send(sample_digest(), recipient="HOOK")
        _channel(hook.url, secret=None).send(sample_digest(digest_id=8), recipient="HOOK")
    ids = [r.headers["X-Barometer-Delivery"] for r in hook.requests]
    assert ids[0] == ids[1] != ids[2]
    assert "X-Barometer-Signature" not in hook.requests[0].headers


def test_429_waits_for_retry_after_once() -> None:
    waits: list[float] = []
    with FakeWebhook() as hook:
        hook.respond((429, "slow down", {"Retry-After": "2"}))
        _channel(hook.url, sleeps=waits).send(sample_digest(), recipient="HOOK")
    assert waits == [2.0]
    assert len(hook.accepted) == 1


@pytest.mark.parametrize(("status", "transient"), [(500, True), (408, True), (404, False), (410, False), (400, False)])
def test_statuses_are_classified(status: int, transient: bool) -> None:
    with FakeWebhook() as hook:
        hook.respond((status, "nope", {}))
        with pytest.raises(DeliveryError) as caught:
            _channel(hook.url).send(sample_digest(), recipient="HOOK")
    assert caught.value.transient is transient


def test_a_redirect_is_not_followed() -> None:
    with FakeWebhook() as hook:
        hook.respond((302, "", {"Location": hook.url}))
        with pytest.raises(DeliveryError, match="HTTP 302 redirect") as caught:
            _channel(hook.url).send(sample_digest(), recipient="HOOK")
    assert caught.value.transient is False
    assert len(hook.requests) == 1


def test_an_unreachable_hook_is_transient_and_the_url_stays_secret(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/topsecret-token"
    channel = _channel(url)
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as caught:
        channel.send(sample_digest(), recipient="HOOK")
    assert caught.value.transient is True
    assert "topsecret" not in str(caught.value) + repr(channel) + caplog.text


def test_an_immediate_alert_says_so() -> None:
    digest = sample_digest()
    alert = replace(digest, immediate=True, incidents=(Incident(findings=digest.findings[:1]),))
    with FakeWebhook() as hook:
        _channel(hook.url).send(alert, recipient="HOOK")
    assert hook.requests[0].headers["X-Barometer-Event"] == "alert"
    assert hook.accepted[0]["type"] == "barometer.alert"
    assert hook.accepted[0]["subject"] == "Alert on shop: key events tracking stopped"
