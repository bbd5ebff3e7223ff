"""A fake generic JSON webhook receiver on 127.0.0.1 that checks the signature like a real
receiver would and records every delivery it accepted."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from tests.fakes.http import Recorded, RecordingServer, Reply

__all__ = ["FakeWebhook"]

PATH = "/hooks/barometer/9f8e7d6c5b4a"


class FakeWebhook(RecordingServer):
    """Accepts POSTs to :attr:`url`; with ``secret`` it rejects (401) a missing or wrong
    signature. ``accepted`` holds the JSON documents it took, ``deliveries`` their ids."""

    def __init__(self, *, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret
        self.url = f"{self.base}{PATH}"
        self.accepted: list[dict[str, Any]] = []
        self.deliveries: list[str] = []

    def answer(self, request: Recorded) -> Reply:
        if request.path != PATH:
            return 404, "no such hook", {}
        if self.secret is not None:
            stamp = request.headers.get("X-Barometer-Timestamp", "")
            mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("X-Barometer-Signature", ""), f"sha256={mac}"):
                return 401, "bad signature", {}
        self.accepted.append(request.json())
        self.deliveries.append(request.headers.get("X-Barometer-Delivery", ""))
        return 202, "accepted", {}

    def __enter__(self) -> FakeWebhook:
        super().__enter__()
        return self
