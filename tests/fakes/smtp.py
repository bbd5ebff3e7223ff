"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording what arrived.

Usage::

    with SmtpServer() as server:                      # plain SMTP on a free port
        ...send to server.host:server.port...
        server.received[0].message["Subject"]

    tls = self_signed_tls(tmp_path)
    with SmtpServer(tls=tls, credentials=("bot", "pw")) as server:   # STARTTLS required, AUTH
        ...SmtpChannel(..., tls_context=tls.client)...

``implicit_tls=True`` serves TLS from the first byte (port-465 style) instead of STARTTLS.
``port`` picks the port (e.g. one a client already failed to reach: "SMTP down, then up").
``reject`` names recipients answered with ``550 5.1.1``; ``defer`` ones get ``451 4.3.0``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Received", "SmtpServer", "TlsPair", "free_port", "self_signed_tls"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class _Handler:
    reject: frozenset[str]
    defer: frozenset[str]
    received: list[Received] = field(default_factory=list)
    #: Called once, after the next message was kept (fault injection: kill its sender).
    on_data: Callable[[], None] | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.defer:
            return f"451 4.3.0 <{address}>: Temporary local problem, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data))
        if self.on_data is not None:
            hook, self.on_data = self.on_data, None
            hook()
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class TlsPair:
    """A server context with a fresh self-signed cert for 127.0.0.1, and a client context trusting it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def self_signed_tls(directory: Path) -> TlsPair:
    """Generate a key and a self-signed certificate for 127.0.0.1/localhost under ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return TlsPair(server=server, client=client)


class SmtpServer:
    """aiosmtpd in a background thread on 127.0.0.1; ``received`` lists accepted messages."""

    def __init__(
        self,
        *,
        reject: frozenset[str] = frozenset(),
        defer: frozenset[str] = frozenset(),
        tls: TlsPair | None = None,
        credentials: tuple[str, str] | None = None,
        implicit_tls: bool = False,
        port: int | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._handler = _Handler(reject=reject, defer=defer)
        self._credentials = credentials
        kwargs: dict[str, Any] = {}
        if tls is not None and implicit_tls:
            kwargs.update(ssl_context=tls.server)
        elif tls is not None:
            kwargs.update(tls_context=tls.server, require_starttls=True)
        if credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **kwargs)

    @property
    def received(self) -> list[Received]:
        return self._handler.received

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self._credentials == (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535 itself

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()
