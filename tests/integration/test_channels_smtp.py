"""SmtpChannel against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.channels import SmtpChannel
from alerts.errors import DeliveryError
from tests.fakes import sample_digest
from tests.fakes.smtp import SmtpServer, free_port, self_signed_tls

SENDER = "barometer@example.com"


def test_the_digest_arrives_with_subject_recipient_and_inline_charts() -> None:
    with SmtpServer() as server:
        SmtpChannel(host=server.host, port=server.port, sender=SENDER, starttls=False).send(
            sample_digest(), recipient="team@shop.example"
        )
    [mail] = server.received
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ("team@shop.example",)
    message = mail.message
    assert message["Subject"] == "Key events tracking stopped; sessions fell 41% (4 changes on shop)"
    assert message["To"] == "team@shop.example"
    pngs = [p.get_content() for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 4
    assert all(png.startswith(b"\x89PNG") for png in pngs)


def test_starttls_and_login_with_a_self_signed_certificate_the_channel_trusts(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with SmtpServer(tls=tls, credentials=("bot", "s3cret")) as server:
        channel = SmtpChannel(
            host=server.host,
            port=server.port,
            sender=SENDER,
            username="bot",
            password=SecretStr("s3cret"),
            tls_context=tls.client,
            timeout=5,
        )
        channel.send(sample_digest(), recipient="team@shop.example")
    assert [m.rcpt_tos for m in server.received] == [("team@shop.example",)]


def test_an_untrusted_certificate_is_a_permanent_failure(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with SmtpServer(tls=tls) as server:
        channel = SmtpChannel(host=server.host, port=server.port, sender=SENDER)  # default trust store
        with pytest.raises(DeliveryError, match="certificate") as caught:
            channel.send(sample_digest(), recipient="team@shop.example")
    assert caught.value.transient is False
    assert server.received == []


def test_a_wrong_password_is_permanent_and_the_password_is_not_in_the_message(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with SmtpServer(tls=tls, credentials=("bot", "s3cret")) as server:
        channel = SmtpChannel(
            host=server.host,
            port=server.port,
            sender=SENDER,
            username="bot",
            password=SecretStr("wrong-pass"),
            tls_context=tls.client,
            timeout=5,
        )
        with pytest.raises(DeliveryError, match=r"login as 'bot' rejected: 535") as caught:
            channel.send(sample_digest(), recipient="team@shop.example")
    assert caught.value.transient is False
    assert "wrong-pass" not in str(caught.value)
    assert "wrong-pass" not in repr(channel)


def test_a_refused_connection_is_transient() -> None:
    channel = SmtpChannel(host="127.0.0.1", port=free_port(), sender=SENDER, starttls=False, timeout=5)
    with pytest.raises(DeliveryError, match=r"smtp 127\.0\.0\.1:\d+: ConnectionRefusedError") as caught:
        channel.send(sample_digest(), recipient="team@shop.example")
    assert caught.value.transient is True


def test_a_rejected_recipient_is_permanent_and_a_deferred_one_transient() -> None:
    with SmtpServer(reject=frozenset({"gone@shop.example"}), defer=frozenset({"busy@shop.example"})) as server:
        channel = SmtpChannel(host=server.host, port=server.port, sender=SENDER, starttls=False)
        with pytest.raises(DeliveryError, match=r"recipient gone@shop\.example refused: 550") as rejected:
            channel.send(sample_digest(), recipient="gone@shop.example")
        with pytest.raises(DeliveryError, match=r"recipient busy@shop\.example refused: 451") as deferred:
            channel.send(sample_digest(), recipient="busy@shop.example")
    assert rejected.value.transient is False
    assert deferred.value.transient is True
    assert server.received == []


def test_a_server_without_starttls_is_a_permanent_configuration_error() -> None:
    with SmtpServer() as server:
        channel = SmtpChannel(host=server.host, port=server.port, sender=SENDER, starttls=True)
        with pytest.raises(DeliveryError, match="check starttls/ssl") as caught:
            channel.send(sample_digest(), recipient="team@shop.example")
    assert caught.value.transient is False


def test_implicit_tls_on_connect_with_ssl_true(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with SmtpServer(tls=tls, implicit_tls=True) as server:
        channel = SmtpChannel(host=server.host, port=server.port, sender=SENDER, ssl=True, tls_context=tls.client)
        channel.send(sample_digest(), recipient="team@shop.example")
    assert [m.rcpt_tos for m in server.received] == [("team@shop.example",)]
