"""The exception tree of :mod:`jobs`. Every message is one line a user can act on."""

from __future__ import annotations

__all__ = [
    "BarometerError",
    "InputError",
    "LLMError",
    "SourceAuthError",
    "SourceError",
    "SourceQuotaError",
    "SourceTransientError",
    "UnknownPropertyError",
]


class BarometerError(Exception):
    """Base class of every error barometer raises on purpose."""


class InputError(BarometerError):
    """Bad user input (a CSV, a date, a name). The message names the place and the fix."""


class UnknownPropertyError(BarometerError):
    """Points were to be stored under a property id that is not in the database."""


class SourceError(BarometerError):
    """A metric source failed."""


class SourceAuthError(SourceError):
    """Credentials were rejected or revoked: the account needs re-authorisation."""


class SourceQuotaError(SourceError):
    """The source's quota is exhausted; retrying now would not help."""


class SourceTransientError(SourceError):
    """A failure worth retrying later (network, 429, 5xx)."""


class LLMError(BarometerError):
    """A language model could not be asked or did not answer (timeout, HTTP error, no key).

    The message is one line without secrets; the summariser records it and moves on to
    the next model in the chain, or to the template summary.
    """
