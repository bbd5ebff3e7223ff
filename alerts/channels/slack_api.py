"""Slack through the Web API: ``chat.postMessage`` with a bot token (``slack_sdk.WebClient``).

The token is a secret (:class:`pydantic.SecretStr`), sent only in the Authorization
header, never logged and never put in an error message. The recipient is the channel
(an id such as ``C0123456789`` or a name such as ``#marketing``; the bot must be a member).

Slack answers HTTP 200 with ``{"ok": false, "error": ...}`` for most failures. Permanent
(retrying cannot help until someone fixes the configuration): ``invalid_auth``,
``not_authed``, ``account_inactive``, ``token_revoked``, ``token_expired``,
``channel_not_found``, ``not_in_channel``, ``is_archived``, ``missing_scope``,
``restricted_action``, ``invalid_blocks``, ``msg_too_long`` and any other 4xx-like
error. Transient: HTTP 429 (after waiting ``Retry-After`` once, when short enough),
5xx, ``internal_error``, ``fatal_error``, ``service_unavailable``, ``request_timeout``,
network failures. ``link_names`` and unfurling are off: nothing in a digest pings or
expands.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from alerts.channels.slack import retry_after as _retry_after
from alerts.errors import DeliveryError
from alerts.errors import one_line as _one_line
from alerts.render.slack import render_slack
from jobs.domain import Digest

__all__ = ["DEFAULT_API_URL", "SlackApiChannel"]

log = logging.getLogger(__name__)
#: The SDK logs request failures at ERROR; ours are reported once, by the outbox.
_SDK_LOG = logging.getLogger("alerts.channels.slack_api.sdk")
_SDK_LOG.setLevel(logging.CRITICAL)

DEFAULT_API_URL = "https://slack.com/api/"
_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})


class SlackApiChannel:
    """Posts the Block Kit digest with ``chat.postMessage`` as the bot of ``token``."""

    name = "slack_api"

    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        self.base_url = base_url or DEFAULT_API_URL
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SlackApiChannel(base_url={self.base_url!r}, token=SecretStr('**********'))"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Post ``digest`` to channel ``recipient``; raises DeliveryError."""
        payload = render_slack(digest)
        where = f"slack channel {recipient!r}"
        try:
            self._post(payload, channel=recipient, where=where)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status != 429:
                raise _api_error(where, exc) from None
            wait = _retry_after(exc.response.headers)
            if wait > self.max_retry_after:
                raise DeliveryError(f"{where}: rate limited (retry after {wait:.0f}s)", transient=True) from None
            log.info("slack channel %r rate limited; retrying once after %.0fs", recipient, wait)
            self._sleep(wait)
            try:
                self._post(payload, channel=recipient, where=where)
            except SlackApiError as again:
                if again.response.status_code == 429:
                    raise DeliveryError(f"{where}: rate limited twice (HTTP 429)", transient=True) from None
                raise _api_error(where, again) from None

    def _post(self, payload: Mapping[str, Any], *, channel: str, where: str) -> None:
        client = WebClient(
            token=self._token.get_secret_value(),
            base_url=self.base_url,
            timeout=max(1, math.ceil(self.timeout)),
            logger=_SDK_LOG,
            retry_handlers=[],
        )
        try:
            client.chat_postMessage(
                channel=channel,
                text=str(payload["text"]),
                blocks=payload["blocks"],
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
            )
        except SlackRequestError as exc:
            raise DeliveryError(f"{where}: {_one_line(str(exc))}", transient=False) from None
        except (TimeoutError, OSError) as exc:  # URLError is an OSError: refused, reset, DNS, TLS
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{where}: {type(exc).__name__}: {_one_line(str(reason))}", transient=True) from None


def _api_error(where: str, exc: SlackApiError) -> DeliveryError:
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {response.status_code}")
    transient = response.status_code >= 500 or error in _TRANSIENT
    hint = {
        "invalid_auth": " (check the bot token)",
        "not_authed": " (no bot token was sent)",
        "channel_not_found": " (check the channel id, and that the bot can see it)",
        "not_in_channel": " (invite the bot to the channel)",
    }.get(error, "")
    return DeliveryError(f"{where}: {_one_line(error)}{hint}", transient=transient)
