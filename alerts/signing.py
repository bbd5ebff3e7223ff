"""Signed, expiring links that messages carry (feedback buttons, chart images).

A token is ``{payload}.{signature}``: the payload is URL-safe base64 of compact JSON
``{"p": purpose, "f": id or [ids], "l": label, "e": expiry (Unix seconds)}``, the signature
URL-safe base64 of HMAC-SHA256 over the payload with the instance's link secret (from the
environment, never the config file or the repository). :meth:`Signer.verify` checks the
signature in constant time, then the purpose, then the expiry, and raises
:class:`BadLink` with a reason a person can read. A token says what it may do and nothing
more: a chart token cannot record feedback, and a feedback token for one finding and
label cannot be turned into another (the payload is what is signed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.errors import BarometerError

__all__ = ["BadLink", "Claim", "Signer"]


class BadLink(BarometerError):
    """A link that was altered, is for something else, or has expired."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a verified token allows: ``purpose`` on ``finding_ids`` (with ``label``); the ids
    are findings (a feedback link labels an incident's findings together), or a digest."""

    purpose: str  # "feedback" | "chart" | "digest"
    finding_ids: tuple[int, ...]
    label: str
    expires: datetime

    @property
    def finding_id(self) -> int:
        """The first (for a chart or a digest, the only) id."""
        return self.finding_ids[0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies link tokens with one secret; ``ttl`` is how long a link lives."""

    def __init__(self, secret: bytes, *, ttl: timedelta = timedelta(days=14)) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes long")
        self._secret = secret
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"Signer(ttl={self.ttl!r})"  # never the secret

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, purpose: str, ids: int | Sequence[int], *, now: datetime, label: str = "") -> str:
        """A token allowing ``purpose`` on ``ids`` (one id, or several) until ``now + ttl``."""
        expires = int((now + self.ttl).timestamp())
        what: int | list[int] = ids if isinstance(ids, int) else list(ids)
        body = json.dumps({"p": purpose, "f": what, "l": label, "e": expires}, separators=(",", ":"))
        payload = _b64(body.encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, *, purpose: str, now: datetime) -> Claim:
        """The claim of ``token``; raises :class:`BadLink` when it is not genuine, not for
        ``purpose``, or expired."""
        payload, dot, signature = token.partition(".")
        if not dot or not hmac.compare_digest(self._mac(payload), signature):
            raise BadLink("this link is not valid (it was changed or cut short)")
        try:
            data = json.loads(_unb64(payload))
            claim = Claim(
                purpose=str(data["p"]),
                finding_ids=tuple(int(i) for i in data["f"]) if isinstance(data["f"], list) else (int(data["f"]),),
                label=str(data["l"]),
                expires=datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise BadLink("this link is not valid (its content cannot be read)") from None
        if claim.purpose != purpose:
            raise BadLink(f"this link is for {claim.purpose}, not {purpose}")
        if now >= claim.expires:
            raise BadLink(f"this link expired on {claim.expires:%Y-%m-%d}")
        return claim
