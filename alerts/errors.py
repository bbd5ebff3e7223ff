"""The exception tree of :mod:`alerts`. Every message is one line without secrets."""

from __future__ import annotations

from jobs.errors import BarometerError

__all__ = ["AlertsError", "DeliveryError", "one_line"]


class AlertsError(BarometerError):
    """Base class of every error :mod:`alerts` raises on purpose."""


class DeliveryError(AlertsError):
    """A channel could not deliver a digest.

    ``transient`` says whether trying again later may succeed (timeouts, refused
    connections, SMTP 4xx, Slack 429/5xx) or not (bad credentials, a rejected recipient,
    a revoked webhook). The outbox retries only transient failures.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def one_line(text: str, *, limit: int = 200) -> str:
    """An error text on one line, at most ``limit`` characters (for logs and delivery rows)."""
    return " ".join(text.split())[:limit]
