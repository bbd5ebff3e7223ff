"""The one rate-limit (HTTP 429) policy of every HTTP channel, and the Slack SDK's logger.

Policy: a 429 whose ``Retry-After`` (seconds, or an HTTP date) is at most
``max_wait`` seconds is waited out and the request sent once more; a longer wait, or a
second 429, is a *transient* :class:`~alerts.errors.DeliveryError` ("rate limited (retry
after Ns)" / "rate limited twice"), which the outbox retries with its backoff. A missing
or unreadable ``Retry-After`` counts as 1 second.

Slack's clients get the policy as a slack_sdk ``RateLimitErrorRetryHandler``
(:meth:`RateLimitPolicy.slack_handler`); the generic webhook (urllib) runs the same
decision itself (:meth:`RateLimitPolicy.wait_or_raise`).

:func:`sdk_logger`: slack_sdk logs every failed attempt at ERROR, even one that is retried,
and Sentry turns each ERROR into an event. Its logger for our channels writes those at
WARNING; the outbox logs the one ERROR when a delivery fails for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from alerts.errors import DeliveryError

__all__ = ["RateLimitPolicy", "SlackRateLimitHandler", "retry_after", "sdk_logger"]


def retry_after(headers: Mapping[str, Any], *, now: Callable[[], float] = time.time) -> float:
    """Seconds a 429 asks to wait: ``Retry-After`` as seconds or an HTTP date; 1 when absent
    or unreadable. Header names are matched case-insensitively; list values (slack_sdk) too."""
    for key, value in headers.items():
        if key.lower() != "retry-after":
            continue
        raw = str(value[0] if isinstance(value, list | tuple) and value else value).strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return 1.0
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        return max(0.0, when.timestamp() - now())
    return 1.0


@dataclass(frozen=True)
class RateLimitPolicy:
    """Wait a short ``Retry-After`` once (at most ``max_wait`` seconds); else transient."""

    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def wait_or_raise(self, headers: Mapping[str, Any], *, where: str, attempt: int) -> None:
        """After the ``attempt``-th 429 (1-based): sleep and return (send again), or raise."""
        if attempt > 1:
            raise DeliveryError(f"{where}: rate limited twice (HTTP 429)", transient=True)
        wait = retry_after(headers)
        if wait > self.max_wait:
            raise self.too_long(where, headers)
        self.sleep(wait)

    def too_long(self, where: str, headers: Mapping[str, Any]) -> DeliveryError:
        """The error for a 429 that was not (or no longer) waited out."""
        return DeliveryError(f"{where}: rate limited (retry after {retry_after(headers):.0f}s)", transient=True)

    def error(self, where: str, headers: Mapping[str, Any], *, retried: bool) -> DeliveryError:
        """The error for a 429 that came back from a client applying :meth:`slack_handler`."""
        if retried:
            return DeliveryError(f"{where}: rate limited twice (HTTP 429)", transient=True)
        return self.too_long(where, headers)

    def slack_handler(self) -> SlackRateLimitHandler:
        """This policy as a slack_sdk retry handler (one retry, within ``max_wait``); use a
        new one per request: its ``waited`` says whether it waited."""
        return SlackRateLimitHandler(self)


class SlackRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler with the policy's cap and clock: it declines a wait longer
    than ``max_wait`` (the SDK then returns the 429) and reads HTTP-date values."""

    def __init__(self, policy: RateLimitPolicy) -> None:
        super().__init__(max_retry_count=1)
        self.policy = policy
        self.waited = False

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and retry_after(response.headers) <= self.policy.max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None  # _can_retry only accepts a 429 response
        state.next_attempt_requested = True
        self.waited = True
        self.policy.sleep(retry_after(response.headers))
        state.increment_current_attempt()


class _WarningsOnly(logging.Logger):
    """A logger that writes ERROR and CRITICAL records as WARNING."""

    def _log(self, level: int, msg: object, args: Any, *rest: Any, **kwargs: Any) -> None:
        super()._log(min(level, logging.WARNING), msg, args, *rest, **kwargs)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802  (logging's name)
        return super().isEnabledFor(min(level, logging.WARNING))


_SDK_LOGGERS: dict[str, logging.Logger] = {}


def sdk_logger(name: str) -> logging.Logger:
    """The logger to hand a slack_sdk client: ``name`` at WARNING (the SDK's DEBUG lines
    carry request URLs), every ERROR written as a WARNING. Its records propagate to
    ``name``'s parent's handlers like any logger's."""
    if name not in _SDK_LOGGERS:
        logger = _WarningsOnly(name, logging.WARNING)
        logger.parent = logging.getLogger(name.rpartition(".")[0] or "root")
        _SDK_LOGGERS[name] = logger
    return _SDK_LOGGERS[name]
