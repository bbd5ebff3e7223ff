"""Slack incoming webhooks through ``slack_sdk.webhook.WebhookClient``.

The webhook URL is a secret: it is held as :class:`pydantic.SecretStr`, never logged and
never put in an error message (the SDK's own logger is kept at WARNING, where it does not
print URLs). The recipient is only the webhook's label, e.g. ``"#marketing"``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

from pydantic import SecretStr
from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from alerts.errors import DeliveryError, one_line
from alerts.render.slack import render_slack
from jobs.domain import Digest

__all__ = ["SlackWebhookChannel"]

log = logging.getLogger(__name__)
#: The SDK logs request URLs at DEBUG; a logger of our own at WARNING keeps them out.
_SDK_LOG = logging.getLogger("alerts.channels.slack.sdk")
_SDK_LOG.setLevel(logging.WARNING)


class SlackWebhookChannel:
    """Posts the Block Kit digest to one webhook. On 429 it waits the server's
    ``Retry-After`` once (if at most ``max_retry_after`` seconds) and then gives up as transient."""

    name = "slack"

    def __init__(
        self,
        *,
        url: SecretStr,
        timeout: float = 10.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self._sleep = sleep

    def __repr__(self) -> str:
        return "SlackWebhookChannel(url=SecretStr('**********'))"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Post ``digest`` to the webhook labelled ``recipient``; raises DeliveryError."""
        payload = render_slack(digest)
        where = f"slack webhook {recipient!r}"
        response = self._post(payload, where)
        if response.status_code == 429:
            wait = retry_after(response.headers)
            if wait > self.max_retry_after:
                raise DeliveryError(f"{where}: rate limited (retry after {wait:.0f}s)", transient=True)
            log.info("slack webhook %r rate limited; retrying once after %.0fs", recipient, wait)
            self._sleep(wait)
            response = self._post(payload, where)
            if response.status_code == 429:
                raise DeliveryError(f"{where}: rate limited twice (HTTP 429)", transient=True)
        if response.status_code == 200:
            return
        status = response.status_code
        transient = status >= 500 or status in (408, 429)
        raise DeliveryError(f"{where}: HTTP {status} {one_line(response.body)}", transient=transient)

    def _post(self, payload: Mapping[str, object], where: str) -> WebhookResponse:
        client = WebhookClient(
            url=self._url.get_secret_value(),
            timeout=max(1, math.ceil(self.timeout)),
            logger=_SDK_LOG,
            retry_handlers=[],
        )
        try:
            return client.send_dict(dict(payload))
        except SlackRequestError:
            raise DeliveryError(f"{where}: the webhook URL is not an http(s) URL", transient=False) from None
        except (TimeoutError, OSError) as exc:  # URLError is an OSError: refused, reset, DNS, TLS
            reason = getattr(exc, "reason", exc)
            text = one_line(str(reason)).replace(self._url.get_secret_value(), "<webhook>")
            raise DeliveryError(f"{where}: {type(exc).__name__}: {text}", transient=True) from None


def retry_after(headers: Mapping[str, object]) -> float:
    """Seconds a Slack 429 asks to wait (``Retry-After``); 1 when absent or unreadable."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                break
    return 1.0
