"""Channels: how a rendered digest leaves the building.

A :class:`Channel` sends one digest to one recipient and raises
:class:`alerts.errors.DeliveryError` (``transient`` or not) on failure; it never logs
and returns silently. The outbox (:mod:`alerts.outbox`) decides about retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from alerts.channels.directory import DirectoryChannel
from alerts.channels.slack import SlackWebhookChannel
from alerts.channels.slack_api import SlackApiChannel
from alerts.channels.smtp import SmtpChannel
from alerts.channels.unavailable import UnavailableChannel
from alerts.channels.webhook import WebhookChannel
from jobs.domain import Digest

__all__ = [
    "Channel",
    "Confirming",
    "DirectoryChannel",
    "SlackApiChannel",
    "SlackWebhookChannel",
    "SmtpChannel",
    "UnavailableChannel",
    "WebhookChannel",
]


class Channel(Protocol):
    """One way of delivering a digest. ``name`` is what delivery rows store
    ("email", "slack", "slack_api", "webhook", "file")."""

    name: str

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Deliver ``digest`` to ``recipient`` or raise :class:`~alerts.errors.DeliveryError`."""
        ...


@runtime_checkable
class Confirming(Protocol):
    """A channel that can tell whether a digest already reached a recipient (Slack's Web
    API reads the channel's history). The outbox asks before resending a delivery whose
    sender died between sending and marking it sent."""

    def was_delivered(self, digest: Digest, *, recipient: str, since: datetime) -> bool:
        """True if ``digest`` was posted to ``recipient`` at or after ``since``; raises
        :class:`~alerts.errors.DeliveryError` when the channel cannot be asked."""
        ...
