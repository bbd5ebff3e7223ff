"""Channel promises through real clients and local fakes: one 429 policy for Slack
(webhook and Web API) and webhooks, the Slack SDK's retried failures are warnings (only
a final failure is an ERROR), Slack finds a message whose sender died before marking it,
webhooks carry an Idempotency-Key, and the CLI reports its errors to Sentry."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.channels import Channel, SlackApiChannel, SlackWebhookChannel, WebhookChannel
from alerts.errors import DeliveryError
from alerts.outbox import LEASE, Target, deliver, deliveries
from jobs.domain import DeliveryStatus
from jobs.storage import repo
from tests.fakes import sample_digest
from tests.fakes.http import Recorded, Reply
from tests.fakes.sentry import FakeSentry
from tests.fakes.slack import FakeSlackApi, FakeSlackWebhook
from tests.fakes.smtp import SmtpServer, free_port
from tests.fakes.webhook import FakeWebhook
from worker import db

TOKEN = "xoxb-bot-token"
CHANNEL = "C0MARKETING"
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)

Sender = Callable[[float, list[float]], tuple[object, Callable[[], None], Callable[[], int]]]


def _http_date(seconds_ahead: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_ahead), usegmt=True)


@pytest.fixture(params=["slack_webhook", "slack_api", "webhook"])
def channel_and_fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, object, object, list[float]]]:
    """(kind, channel, fake, sleeps): each channel sleeps through an injected recorder."""
    sleeps: list[float] = []
    if request.param == "slack_webhook":
        with FakeSlackWebhook() as hook:
            yield "slack_webhook", SlackWebhookChannel(url=SecretStr(hook.url), sleep=sleeps.append), hook, sleeps
    elif request.param == "slack_api":
        with FakeSlackApi(token=TOKEN, channels=(CHANNEL,)) as api:
            channel = SlackApiChannel(token=SecretStr(TOKEN), base_url=api.url, sleep=sleeps.append)
            yield "slack_api", channel, api, sleeps
    else:
        with FakeWebhook() as hook:
            yield "webhook", WebhookChannel(url=SecretStr(hook.url), sleep=sleeps.append), hook, sleeps


def _script(kind: str, fake: object, *replies: tuple[int, dict[str, str]]) -> None:
    for status, headers in replies:
        body: object = {"ok": False, "error": "ratelimited"} if kind == "slack_api" else "rate limited"
        fake.respond((status, body, headers))  # type: ignore[attr-defined]


def _requests(kind: str, fake: object) -> int:
    return len(fake.bodies) if kind == "slack_webhook" else len(fake.requests)  # type: ignore[attr-defined]


def _send(kind: str, channel: object) -> None:
    recipient = CHANNEL if kind == "slack_api" else "#marketing"
    channel.send(sample_digest(), recipient=recipient)  # type: ignore[attr-defined]


def test_one_429_policy_a_short_retry_after_is_waited_once(
    channel_and_fake: tuple[str, object, object, list[float]],
) -> None:
    kind, channel, fake, sleeps = channel_and_fake
    _script(kind, fake, (429, {"Retry-After": "2"}))
    _send(kind, channel)
    assert sleeps == [2.0]
    assert _requests(kind, fake) == 2


def test_one_429_policy_a_long_retry_after_as_an_http_date_is_not_waited(
    channel_and_fake: tuple[str, object, object, list[float]],
) -> None:
    kind, channel, fake, sleeps = channel_and_fake
    _script(kind, fake, (429, {"Retry-After": _http_date(600)}), (429, {"Retry-After": _http_date(600)}))
    with pytest.raises(DeliveryError, match=r"rate limited \(retry after (59\d|600)s\)") as caught:
        _send(kind, channel)
    assert caught.value.transient
    assert sleeps == []
    assert _requests(kind, fake) == 1


def test_one_429_policy_a_second_429_gives_up_as_transient(
    channel_and_fake: tuple[str, object, object, list[float]],
) -> None:
    kind, channel, fake, sleeps = channel_and_fake
    _script(kind, fake, (429, {"Retry-After": "1"}), (429, {"Retry-After": "1"}), (429, {"Retry-After": "1"}))
    with pytest.raises(DeliveryError, match="rate limited twice") as caught:
        _send(kind, channel)
    assert caught.value.transient
    assert sleeps == [1.0]
    assert _requests(kind, fake) == 2


@pytest.fixture
def engine_and_digest(tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = db.create_engine(url)
    db.upgrade(engine)
    digest = repo.save_digest(engine, sample_digest(findings=(), digest_id=None))
    assert digest.id is not None
    yield url, digest.id
    engine.dispose()


def test_a_retried_slack_failure_is_a_warning_and_only_the_final_one_an_error(
    engine_and_digest: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    url, digest_id = engine_and_digest
    engine = db.create_engine(url)
    digest = repo.load_digest(engine, digest_id)
    assert digest is not None
    closed = f"http://127.0.0.1:{free_port()}"
    channels: dict[str, Channel] = {
        "slack": SlackWebhookChannel(url=SecretStr(f"{closed}/services/T0/B0/x")),
        "slack_api": SlackApiChannel(token=SecretStr(TOKEN), base_url=f"{closed}/api/"),
    }
    targets = [Target("slack", "#marketing"), Target("slack_api", CHANNEL)]
    caplog.set_level(logging.DEBUG)
    at = START
    for attempt in range(3):
        deliver(engine, digest=digest, targets=targets, channels=channels, now=lambda at=at: at, max_attempts=3)  # type: ignore[misc]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        if attempt < 2:
            assert errors == [], [r.getMessage() for r in errors]
        at += timedelta(hours=1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("alerts.channels")]
    assert warnings, "the SDK's failed attempts are logged at WARNING"
    assert sorted(str(r.args[4]) for r in errors if isinstance(r.args, tuple)) == ["slack", "slack_api"]  # one each
    assert all(r.name == "alerts.outbox" for r in errors)
    assert {d.status for d in deliveries(engine, digest_id=digest_id)} == {DeliveryStatus.FAILED}
    engine.dispose()


SLACK_SENDER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from pydantic import SecretStr
    from alerts.channels import SlackApiChannel
    from alerts.outbox import Target, deliver
    from jobs.storage import repo
    from worker import db

    url, digest_id, api, at = sys.argv[1], int(sys.argv[2]), sys.argv[3], datetime.fromisoformat(sys.argv[4])
    engine = db.create_engine(url)
    digest = repo.load_digest(engine, digest_id)
    channel = SlackApiChannel(token=SecretStr("xoxb-bot-token"), base_url=api)
    deliver(engine, digest=digest, targets=[Target("slack_api", "C0MARKETING")], channels={"slack_api": channel},
            now=lambda: at)
    """
)


class Seconds:
    """The fake Slack's clock (unix seconds), moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


class KillingSlackApi(FakeSlackApi):
    """Posts the message, then SIGKILLs the sender before it hears the answer (once)."""

    pid: int | None = None

    def answer(self, request: Recorded) -> Reply:
        reply = super().answer(request)
        if request.path.endswith("chat.postMessage") and self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        return reply


def _sender(url: str, digest_id: int, api: str, at: datetime) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    args = [sys.executable, "-c", SLACK_SENDER, url, str(digest_id), api, at.isoformat()]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_slack_finds_the_digest_a_dead_sender_posted_and_does_not_post_it_again(
    engine_and_digest: tuple[str, int],
) -> None:
    url, digest_id = engine_and_digest
    clock = Seconds(START)
    api = KillingSlackApi(token=TOKEN, channels=(CHANNEL,), now=clock)
    with api:
        process = _sender(url, digest_id, api.url, START)
        api.pid = process.pid
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        assert len(api.posts) == 1

        clock.at = START + LEASE + timedelta(minutes=1)
        process = _sender(url, digest_id, api.url, clock.at)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()

    assert len(api.posts) == 1  # found in the channel's history: not posted again
    assert api.posts[0]["metadata"]["event_type"] == "barometer_digest"
    assert api.history[0]["include_all_metadata"] in (True, "1", "true")
    engine = db.create_engine(url)
    [row] = deliveries(engine, digest_id=digest_id)
    engine.dispose()
    assert row.status is DeliveryStatus.SENT


def test_a_webhook_retry_carries_the_same_idempotency_key() -> None:
    with FakeWebhook() as hook:
        hook.respond((503, "busy", {}))
        channel = WebhookChannel(url=SecretStr(hook.url))
        digest = sample_digest()
        with pytest.raises(DeliveryError):
            channel.send(digest, recipient="HOOK")
        channel.send(digest, recipient="HOOK")
        other = WebhookChannel(url=SecretStr(hook.url))
        other.send(sample_digest(digest_id=8), recipient="HOOK")

    keys = [r.headers.get("Idempotency-Key") for r in hook.requests]
    assert keys[0] is not None
    assert keys[0] == keys[1] != keys[2]


def test_cli_errors_reach_sentry(tmp_path: Path) -> None:
    config = tmp_path / "barometer.toml"
    with SmtpServer(reject=frozenset({"team@shop.example"})) as smtp, FakeSentry() as sentry:
        config.write_text(
            f"""
[storage]
database_url = "sqlite:///{tmp_path / "b.db"}"
[smtp]
host = "127.0.0.1"
port = {smtp.port}
starttls = false
[[properties]]
name = "shop"
source = "csv"
[[subscriptions]]
name = "marketing"
properties = ["shop"]
email = ["team@shop.example"]
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAROMETER_", "SENTRY_"))}
        env |= {"BAROMETER_CONFIG": str(config), "SENTRY_DSN": sentry.dsn}
        barometer = str(Path(sys.executable).with_name("barometer"))
        result = subprocess.run(
            [barometer, "run", "--date", "2026-11-17"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        messages = [str(e.get("logentry", {}).get("formatted", "")) for e in sentry.events]

    assert result.returncode == 1
    assert any("failed permanently" in m for m in messages), (messages, result.stderr)
