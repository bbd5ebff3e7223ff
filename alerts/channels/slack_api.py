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
expands. HTTP 429 follows the one policy of :mod:`alerts.channels.ratelimit`.

Each message carries the digest's id as Slack message metadata (``event_type``
``barometer_digest``, ``event_payload`` ``{"digest": "digest-7"}``). Before a delivery
whose sender died is sent again, :meth:`SlackApiChannel.was_delivered` reads the
channel's history since the dead sender's claim (``conversations.history`` with
``include_all_metadata``; scope ``channels:history`` or ``groups:history``, and the
recipient must be a channel id) and finds it there. If the bot may not read the history
(``missing_scope``, ``not_in_channel``...), the message is sent again (at-least-once).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from alerts.channels.ratelimit import RateLimitPolicy, SlackRateLimitHandler, sdk_logger
from alerts.errors import DeliveryError
from alerts.errors import one_line as _one_line
from alerts.render.links import Links
from alerts.render.payload import digest_key
from alerts.render.slack import render_slack
from jobs.domain import Digest

__all__ = ["DEFAULT_API_URL", "METADATA_EVENT", "SlackApiChannel"]

log = logging.getLogger(__name__)
#: slack_sdk's per-attempt ERRORs become WARNINGs; a final failure is reported once, by the outbox.
_SDK_LOG = sdk_logger("alerts.channels.slack_api.sdk")
#: The message metadata event type that marks a barometer digest.
METADATA_EVENT = "barometer_digest"
#: How many history pages (200 messages each) are read when looking for a digest.
_HISTORY_PAGES = 5

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
        links: Links | None = None,
    ) -> None:
        self._token = token
        self.links = links
        self.base_url = base_url or DEFAULT_API_URL
        self.timeout = timeout
        self.rate_limit = RateLimitPolicy(max_wait=max_retry_after, sleep=sleep)

    def __repr__(self) -> str:
        return f"SlackApiChannel(base_url={self.base_url!r}, token=SecretStr('**********'))"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Post ``digest`` to channel ``recipient``; raises DeliveryError."""
        payload = render_slack(digest, links=self.links)
        where = f"slack channel {recipient!r}"
        handler = self.rate_limit.slack_handler()
        try:
            self._call(
                handler,
                where,
                lambda client: client.chat_postMessage(
                    channel=recipient,
                    text=str(payload["text"]),
                    blocks=payload["blocks"],
                    metadata={"event_type": METADATA_EVENT, "event_payload": {"digest": digest_key(digest)}},
                    unfurl_links=False,
                    unfurl_media=False,
                    link_names=False,
                ),
            )
        except SlackApiError as exc:
            raise self._error(where, exc, handler) from None

    def was_delivered(self, digest: Digest, *, recipient: str, since: datetime) -> bool:
        """Whether channel ``recipient`` holds a message with ``digest``'s metadata posted at
        or after ``since``. False when the bot may not read the history (then the caller
        sends again); a transient failure raises DeliveryError."""
        where = f"slack channel {recipient!r} history"
        key = digest_key(digest)
        cursor = ""
        for _ in range(_HISTORY_PAGES):
            handler = self.rate_limit.slack_handler()
            try:
                response = self._call(
                    handler,
                    where,
                    lambda client, page=cursor: client.conversations_history(  # type: ignore[misc]
                        channel=recipient,
                        oldest=f"{since.timestamp():.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=page or None,
                    ),
                )
            except SlackApiError as exc:
                error = self._error(where, exc, handler)
                if error.transient:
                    raise error from None
                log.warning("%s: cannot look for digest %s (%s); sending it again", where, key, error)
                return False
            data = response.data if isinstance(response.data, dict) else {}
            for message in data.get("messages", ()):
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("digest") == key
                ):
                    return True
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not data.get("has_more") or not cursor:
                return False
        return False

    def _call(
        self, handler: SlackRateLimitHandler, where: str, request: Callable[[WebClient], SlackResponse]
    ) -> SlackResponse:
        client = WebClient(
            token=self._token.get_secret_value(),
            base_url=self.base_url,
            timeout=max(1, math.ceil(self.timeout)),
            logger=_SDK_LOG,
            retry_handlers=[handler],
        )
        try:
            return request(client)
        except SlackRequestError as exc:
            raise DeliveryError(f"{where}: {_one_line(str(exc))}", transient=False) from None
        except (TimeoutError, OSError) as exc:  # URLError is an OSError: refused, reset, DNS, TLS
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{where}: {type(exc).__name__}: {_one_line(str(reason))}", transient=True) from None

    def _error(self, where: str, exc: SlackApiError, handler: SlackRateLimitHandler) -> DeliveryError:
        if exc.response.status_code == 429:
            return self.rate_limit.error(where, exc.response.headers, retried=handler.waited)
        return _api_error(where, exc)


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
