"""A generic JSON webhook: POST the digest document (:mod:`alerts.render.payload`).

Each request carries::

    Content-Type: application/json; charset=utf-8
    X-Barometer-Event: digest | alert
    X-Barometer-Delivery: <stable id of this digest x recipient; the same on every retry>
    Idempotency-Key: <the same value, under the header name receivers commonly dedupe by>
    X-Barometer-Timestamp: <unix seconds>
    X-Barometer-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" with the secret>

The signature is sent when a secret is configured; a receiver recomputes it over the raw
body and rejects stale timestamps. Use ``X-Barometer-Delivery`` to drop a repeat: after
a crash between a 2xx and the outbox marking the row sent, the same delivery is posted
again with the same id.

Outcomes: 2xx is success. 429 follows the one policy of :mod:`alerts.channels.ratelimit`
(``Retry-After`` waited once when short enough, then transient); 408, 425 and 5xx are
transient, like network failures; redirects are not followed and, with every other
status, are permanent. The URL is a secret: it never
appears in logs or error messages (the recipient label does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import Any

from pydantic import SecretStr

from alerts.channels.ratelimit import RateLimitPolicy
from alerts.errors import DeliveryError
from alerts.errors import one_line as _one_line
from alerts.render.payload import digest_key, render_payload
from jobs.domain import Digest

__all__ = ["WebhookChannel", "sign"]

_TRANSIENT = frozenset({408, 425, 429})


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Barometer-Signature`` value for ``body`` sent at ``timestamp``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class WebhookChannel:
    """POSTs each digest as JSON to one URL, optionally signed with a shared secret."""

    name = "webhook"

    def __init__(
        self,
        *,
        url: SecretStr,
        secret: SecretStr | None = None,
        timeout: float = 10.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = secret
        self.timeout = timeout
        self.rate_limit = RateLimitPolicy(max_wait=max_retry_after, sleep=sleep)
        self._clock = clock
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:
        signed = ", signed" if self._secret is not None else ""
        return f"WebhookChannel(url=SecretStr('**********'){signed})"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """POST ``digest`` to the webhook labelled ``recipient``; raises DeliveryError."""
        body = json.dumps(render_payload(digest), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        delivery = hashlib.sha256(f"{digest_key(digest)}|{recipient}".encode()).hexdigest()[:32]
        where = f"webhook {recipient!r}"
        status, headers, text = self._post(body, digest=digest, delivery=delivery, where=where)
        attempt = 0
        while status == 429:
            attempt += 1
            self.rate_limit.wait_or_raise(dict(headers.items()), where=where, attempt=attempt)
            status, headers, text = self._post(body, digest=digest, delivery=delivery, where=where)
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            message = f"{where}: HTTP {status} redirect (not followed; configure the final URL)"
            raise DeliveryError(message, transient=False)
        transient = status >= 500 or status in _TRANSIENT
        raise DeliveryError(f"{where}: HTTP {status} {_one_line(text)}", transient=transient)

    def _post(self, body: bytes, *, digest: Digest, delivery: str, where: str) -> tuple[int, Message, str]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "barometer-webhook/1",
            "X-Barometer-Event": "alert" if digest.immediate else "digest",
            "X-Barometer-Delivery": delivery,
            "Idempotency-Key": delivery,
            "X-Barometer-Timestamp": timestamp,
        }
        if self._secret is not None:
            headers["X-Barometer-Signature"] = sign(self._secret.get_secret_value().encode(), timestamp, body)
        url = self._url.get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise DeliveryError(f"{where}: the webhook URL is not an http(s) URL", transient=False)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status), response.headers, response.read(2000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), exc.headers, exc.read(2000).decode("utf-8", "replace")
        except (TimeoutError, OSError) as exc:  # URLError is an OSError: refused, reset, DNS, TLS
            reason = str(getattr(exc, "reason", exc)).replace(url, "<webhook>")
            raise DeliveryError(f"{where}: {type(exc).__name__}: {_one_line(reason)}", transient=True) from None
