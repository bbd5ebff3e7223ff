"""Immediate alerts in the real task path: a Celery worker on real Redis runs the digest
chord; the tracking break is alerted by ``run_property`` (right after detection), before
the digest, once; the digest says it was already alerted."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_celery_worker import rows, run_digest, running_worker
from worker.celery_app import app, configure
from worker.settings import Settings, load_settings

pytestmark = pytest.mark.redis

CONFIG = """
[storage]
database_url = "sqlite:///{db}"

[broker]
url = "{redis_url}"

[outbox]
dir = "{outbox}"

[[properties]]
name = "shop"
source = "demo"
id = "ga4"

[[subscriptions]]
name = "marketing"
properties = ["shop"]
email = ["team@shop.example"]
immediate = ["outage"]
"""


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = tmp_path / "barometer.toml"
    config.write_text(CONFIG.format(db=tmp_path / "barometer.db", redis_url=redis_url, outbox=tmp_path / "outbox"))
    monkeypatch.setenv("BAROMETER_CONFIG", str(config))
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    return load_settings()


@pytest.fixture
def worker(settings: Settings) -> Iterator[None]:
    configure(app, settings)
    with running_worker():
        yield


@pytest.mark.usefixtures("worker")
def test_the_tracking_break_is_alerted_by_the_property_run_before_the_digest(
    settings: Settings, tmp_path: Path
) -> None:
    started, delivered = run_digest("marketing")
    day = started["dates"]["shop"]
    assert (delivered["sent"], delivered["pending"], delivered["failed"]) == (1, 0, 0)

    digests = rows(settings, "SELECT id, subscription FROM digest ORDER BY id")
    assert [name for _, name in digests] == ["marketing/alert/shop", "marketing"]  # the alert was stored first
    sent = rows(settings, "SELECT digest_id, status FROM delivery ORDER BY id")
    assert sent == [(digests[0][0], "sent"), (digests[1][0], "sent")]

    outbox = tmp_path / "outbox"
    alert = email.message_from_bytes(
        (outbox / f"{day}-marketing-alert-shop-team@shop.example.eml").read_bytes(), policy=email.policy.default
    )
    digest = email.message_from_bytes(
        (outbox / f"{day}-marketing-team@shop.example.eml").read_bytes(), policy=email.policy.default
    )
    assert alert["Subject"] == "Alert on shop: key events tracking stopped"
    body = digest.get_body(("plain",))
    assert body is not None
    assert "   Already alerted at " in body.get_content()

    _, again = run_digest("marketing")  # a second beat tick: nothing new anywhere
    assert rows(settings, "SELECT count(*) FROM delivery") == [(2,)]
    assert again["digest_id"] == delivered["digest_id"]
