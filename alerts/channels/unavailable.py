"""A channel whose secret is missing: every send fails permanently, saying which variable.

Used by the composition root when a subscription names an environment variable (a
Slack token, a webhook URL) that is not set: the delivery is recorded as failed with the
reason, logged at ERROR and reported in the next digest, instead of being skipped
silently.
"""

from __future__ import annotations

from alerts.errors import DeliveryError
from jobs.domain import Digest

__all__ = ["UnavailableChannel"]


class UnavailableChannel:
    """Stands in for channel ``name``; ``reason`` says what is missing."""

    def __init__(self, name: str, *, reason: str) -> None:
        self.name = name
        self.reason = reason

    def __repr__(self) -> str:
        return f"UnavailableChannel({self.name!r}, reason={self.reason!r})"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Always raises a permanent DeliveryError naming what is missing."""
        raise DeliveryError(f"{self.name} {recipient!r}: {self.reason}", transient=False)
