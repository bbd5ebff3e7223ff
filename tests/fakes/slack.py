"""A fake Slack incoming webhook: a threaded HTTP server on 127.0.0.1 that records bodies.

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
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeSlackWebhook", "Response"]

Response = tuple[int, str, dict[str, str]]

PATH = "/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"


class FakeSlackWebhook:
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}{PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def respond(self, *responses: Response) -> None:
        """Answer the next requests with ``(status, body, headers)`` in order."""
        with self._lock:
            self._script.extend(responses)

    def __enter__(self) -> FakeSlackWebhook:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
