"""Fake Slack endpoints on 127.0.0.1: an incoming webhook and the Web API (chat.postMessage).

Usage::

    with FakeSlackWebhook() as hook:
        hook.respond((429, "rate_limited", {"Retry-After": "1"}), (200, "ok", {}))
        SlackWebhookChannel(url=SecretStr(hook.url)).send(digest, recipient="#marketing")
        hook.bodies  # the JSON payloads received, in order

Scripted responses are used once each, in order; after that every request gets ``200 ok``
(the answer of a healthy webhook).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import LocalServer, Recorded, RecordingServer, Reply

__all__ = ["FakeSlackApi", "FakeSlackWebhook", "Response"]

Response = tuple[int, str, dict[str, str]]

PATH = "/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"


class FakeSlackWebhook(LocalServer):
    """Answers POSTs to :attr:`url`; ``bodies`` holds each decoded JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with fake._lock:
                    fake.paths.append(self.path)
                    fake.bodies.append(json.loads(raw))
                    status, body, headers = fake._script.popleft() if fake._script else (200, "ok", {})
                if self.path != PATH:
                    status, body, headers = 404, "no_service", {}
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.url = self._serve(Handler) + PATH

    def respond(self, *responses: Response) -> None:
        """Answer the next requests with ``(status, body, headers)`` in order."""
        with self._lock:
            self._script.extend(responses)


class FakeSlackApi(RecordingServer):
    """A local Slack Web API answering ``chat.postMessage`` and ``conversations.history``
    like Slack does.

    Point ``SlackApiChannel(base_url=api.url)`` at it. Requests with another bearer token
    than ``token`` get ``{"ok": false, "error": "invalid_auth"}``; channels other than
    ``channels`` get ``channel_not_found`` (both HTTP 200, as Slack answers). ``posts``
    holds the JSON bodies of the accepted messages. Each message's ``ts`` is ``now()``
    (unix seconds) when it was posted; ``conversations.history`` returns the channel's
    messages newest first, from ``oldest`` on, with their ``metadata`` when
    ``include_all_metadata`` is set.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        channels: tuple[str, ...] = ("C0123456789",),
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.token = token
        self.channels = channels
        self.now = now
        self.url = f"{self.base}/api/"
        self.posts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self._messages: list[tuple[str, dict[str, Any]]] = []

    def answer(self, request: Recorded) -> Reply:
        method = request.path.removeprefix("/api/")
        if method not in ("chat.postMessage", "conversations.history"):
            return 404, {"ok": False, "error": "unknown_method"}, {}
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        body = request.json() if request.body.startswith(b"{") else dict(parse_qsl(request.body.decode()))
        if body.get("channel") not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if method == "conversations.history":
            self.history.append(body)
            return 200, self._history(body), {}
        self.posts.append(body)
        ts = f"{self.now():.6f}"
        message = {"type": "message", "ts": ts, "text": body.get("text", "")}
        if isinstance(body.get("metadata"), dict):
            message["metadata"] = body["metadata"]
        self._messages.append((str(body["channel"]), message))
        return 200, {"ok": True, "channel": body["channel"], "ts": ts}, {}

    def _history(self, query: dict[str, Any]) -> dict[str, Any]:
        oldest = float(query.get("oldest") or 0)
        metadata = str(query.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [
            {k: v for k, v in m.items() if k != "metadata" or metadata}
            for channel, m in reversed(self._messages)
            if channel == query["channel"] and float(m["ts"]) >= oldest
        ]
        return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def __enter__(self) -> FakeSlackApi:
        super().__enter__()
        return self
