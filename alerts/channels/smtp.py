"""Email over SMTP (smtplib): STARTTLS or implicit TLS, optional login.

Failures are translated at the edge into :class:`~alerts.errors.DeliveryError`:
transient for network trouble and 4xx replies, permanent for rejected credentials,
5xx rejections and a server that cannot do the TLS it was configured for.
"""

from __future__ import annotations

import smtplib
import ssl as ssl_lib

from pydantic import SecretStr

from alerts.errors import DeliveryError, one_line
from alerts.render.email import render_email
from alerts.render.links import Links
from jobs.domain import Digest

__all__ = ["SmtpChannel"]


class SmtpChannel:
    """Sends each recipient their own rendered message (one SMTP session per send).

    ``ssl=True`` connects with implicit TLS (port 465) and then ignores ``starttls``;
    otherwise ``starttls=True`` upgrades a plain connection (port 587) and fails
    permanently if the server cannot. ``tls_context`` defaults to the system trust store.
    """

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: SecretStr | None = None,
        starttls: bool = True,
        ssl: bool = False,
        timeout: float = 30.0,
        tls_context: ssl_lib.SSLContext | None = None,
        base_url: str = "",
        links: Links | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        # Implicit TLS (port 465) already encrypts: STARTTLS on top of it is meaningless, so ssl wins.
        self.starttls = starttls and not ssl
        self.use_ssl = ssl
        self.timeout = timeout
        self._tls_context = tls_context
        self.base_url = base_url
        self.links = links

    def __repr__(self) -> str:
        return f"SmtpChannel(host={self.host!r}, port={self.port}, sender={self.sender!r})"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Render the digest for ``recipient`` and hand it to the server; raises DeliveryError."""
        message = render_email(
            digest, sender=self.sender, recipient=recipient, base_url=self.base_url, links=self.links
        )
        where = f"smtp {self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=self._context())
                if self.username:
                    password = self._password.get_secret_value() if self._password else ""
                    smtp.login(self.username, password)
                smtp.send_message(message, from_addr=self.sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, next(iter(exc.recipients.values()), (550, b"")))
            raise _reply_error(f"{where}: recipient {recipient} refused", code, reply) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise _reply_error(f"{where}: login as {self.username!r} rejected", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(where, exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {one_line(str(exc))} (check starttls/ssl)", transient=False) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise DeliveryError(f"{where}: disconnected: {one_line(str(exc))}", transient=True) from None
        except ssl_lib.SSLCertVerificationError as exc:
            msg = f"{where}: TLS certificate not trusted: {one_line(exc.verify_message or str(exc))}"
            raise DeliveryError(msg, transient=False) from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"{where}: {one_line(str(exc))}", transient=False) from None
        except (TimeoutError, OSError) as exc:  # refused, reset, unreachable, TLS handshake cut short
            raise DeliveryError(f"{where}: {type(exc).__name__}: {one_line(str(exc))}", transient=True) from None

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _context(self) -> ssl_lib.SSLContext:
        return self._tls_context if self._tls_context is not None else ssl_lib.create_default_context()


def _reply_error(prefix: str, code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return DeliveryError(f"{prefix}: {code} {one_line(text)}", transient=400 <= code < 500)
