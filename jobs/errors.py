"""The exception tree of :mod:`jobs`. Every message is one line a user can act on."""

from __future__ import annotations

__all__ = [
    "BarometerError",
    "InputError",
    "SourceAuthError",
    "SourceError",
    "SourceQuotaError",
    "SourceTransientError",
]


class BarometerError(Exception):
    """Base class of every error barometer raises on purpose."""


class InputError(BarometerError):
    """Bad user input (a CSV, a date, a name). The message names the place and the fix."""


class SourceError(BarometerError):
    """A metric source failed."""


class SourceAuthError(SourceError):
    """Credentials were rejected or revoked: the account needs re-authorisation."""


class SourceQuotaError(SourceError):
    """The source's quota is exhausted; retrying now would not help."""


class SourceTransientError(SourceError):
    """A failure worth retrying later (network, 429, 5xx)."""
