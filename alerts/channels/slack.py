"""Slack incoming webhooks through ``slack_sdk.webhook.WebhookClient``.

The webhook URL is a secret: it is held as :class:`pydantic.SecretStr`, never logged and
never put in an error message (the SDK's own logger is kept at WARNING, where it does not
print URLs, and its per-attempt ERRORs are written as WARNINGs: see
:mod:`alerts.channels.ratelimit`). The recipient is only the webhook's label, e.g.
``"#marketing"``. HTTP 429 follows the one policy of :mod:`alerts.channels.ratelimit`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from pydantic import SecretStr
from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from alerts.channels.ratelimit import RateLimitPolicy, SlackRateLimitHandler, sdk_logger
from alerts.errors import DeliveryError, one_line
from alerts.render.links import Links
from alerts.render.slack import render_slack
from jobs.domain import Digest

__all__ = ["SlackWebhookChannel"]

_SDK_LOG = sdk_logger("alerts.channels.slack.sdk")


class SlackWebhookChannel:
    """Posts the Block Kit digest to one webhook; a 429 follows :class:`RateLimitPolicy`."""

    name = "slack"

    def __init__(
        self,
        *,
        url: SecretStr,
        timeout: float = 10.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        links: Links | None = None,
    ) -> None:
        self._url = url
        self.links = links
        self.timeout = timeout
        self.rate_limit = RateLimitPolicy(max_wait=max_retry_after, sleep=sleep)

    def __repr__(self) -> str:
        return "SlackWebhookChannel(url=SecretStr('**********'))"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Post ``digest`` to the webhook labelled ``recipient``; raises DeliveryError."""
        where = f"slack webhook {recipient!r}"
        handler = self.rate_limit.slack_handler()
        response = self._post(render_slack(digest, links=self.links), where, handler)
        status = response.status_code
        if status == 200:
            return
        if status == 429:
            raise self.rate_limit.error(where, response.headers, retried=handler.waited)
        transient = status >= 500 or status == 408
        raise DeliveryError(f"{where}: HTTP {status} {one_line(response.body)}", transient=transient)

    def _post(self, payload: Mapping[str, object], where: str, handler: SlackRateLimitHandler) -> WebhookResponse:
        client = WebhookClient(
            url=self._url.get_secret_value(),
            timeout=max(1, math.ceil(self.timeout)),
            logger=_SDK_LOG,
            retry_handlers=[handler],
        )
        try:
            return client.send_dict(dict(payload))
        except SlackRequestError:
            raise DeliveryError(f"{where}: the webhook URL is not an http(s) URL", transient=False) from None
        except (TimeoutError, OSError) as exc:  # URLError is an OSError: refused, reset, DNS, TLS
            reason = getattr(exc, "reason", exc)
            text = one_line(str(reason)).replace(self._url.get_secret_value(), "<webhook>")
            raise DeliveryError(f"{where}: {type(exc).__name__}: {text}", transient=True) from None
