"""DirectoryChannel: the outbox directory the demo and unconfigured installs write to."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from alerts.channels import DirectoryChannel
from alerts.errors import DeliveryError
from alerts.render.email import render_email
from alerts.render.links import Links
from tests.fakes import finding, sample_digest


def test_writes_a_readable_eml_per_recipient_and_one_slack_json(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox" / "nested"
    channel = DirectoryChannel(directory=outbox, sender="barometer@example.com")
    digest = sample_digest(findings=(*sample_digest().findings, *(finding(series=f"page:/p{i}") for i in range(3))))
    channel.send(digest, recipient="Team <team@shop.example>")
    channel.send(digest, recipient="boss@shop.example")

    names = sorted(p.name for p in outbox.iterdir())
    assert names == [
        "2026-11-18-marketing-Team-team@shop.example.eml",
        "2026-11-18-marketing-boss@shop.example.eml",
        "2026-11-18-marketing.all.html",
        "2026-11-18-marketing.slack.json",
    ]
    raw = (outbox / "2026-11-18-marketing-boss@shop.example.eml").read_bytes()
    full = (outbox / "2026-11-18-marketing.all.html").absolute().as_uri()
    links = Links(full_list=full)
    assert (
        raw
        == render_email(digest, sender="barometer@example.com", recipient="boss@shop.example", links=links).as_bytes()
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"].endswith("(7 changes on shop)")
    page = (outbox / "2026-11-18-marketing.all.html").read_text(encoding="utf-8")
    assert "Key events tracking stopped" in page
    assert "Clicks on the query “running shoes” rose 200%" in page
    assert len([p for p in message.walk() if p.get_content_type() == "image/png"]) == 5
    payload = json.loads((outbox / "2026-11-18-marketing.slack.json").read_text(encoding="utf-8"))
    assert payload["blocks"][0]["type"] == "header"


def test_leaves_no_temporary_files_behind(tmp_path: Path) -> None:
    DirectoryChannel(directory=tmp_path).send(sample_digest(), recipient="a@b.example")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_path_that_is_a_file_is_a_permanent_failure_naming_the_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a directory")
    with pytest.raises(DeliveryError, match=r"outbox .*/outbox/sub: Not a directory") as caught:
        DirectoryChannel(directory=blocker / "sub").send(sample_digest(), recipient="a@b.example")
    assert caught.value.transient is False
