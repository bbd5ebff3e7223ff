"""A small recording HTTP server on 127.0.0.1 for fakes of services we do not own.

Subclasses decide the answer to each POST in :meth:`RecordingServer.answer`; every
request is recorded (path, headers, raw body) before it is answered. Scripted responses
(``respond``) are used once each, in order, before the subclass's own answer.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LocalServer", "Recorded", "RecordingServer", "Reply"]

#: (status, body, headers); a dict body is sent as JSON.
Reply = tuple[int, "str | dict[str, Any]", dict[str, str]]


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalServer:
    """A threaded HTTP server on a free port of 127.0.0.1, served while in a ``with`` block."""

    def _serve(
        self, handler: type[BaseHTTPRequestHandler], server: type[ThreadingHTTPServer] = ThreadingHTTPServer
    ) -> str:
        """Bind ``handler`` and return the base URL (``http://127.0.0.1:PORT``)."""
        self._server = server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class RecordingServer(LocalServer):
    """Threaded HTTP server; ``requests`` lists what arrived, oldest first."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                record = Recorded(self.path, {k: v for k, v in self.headers.items()}, raw)
                with fake._lock:
                    fake.requests.append(record)
                    scripted = fake._script.popleft() if fake._script else None
                status, body, headers = scripted or fake.answer(record)
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                kind = "application/json" if isinstance(body, dict) else "text/plain"
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.base = self._serve(Handler)

    def answer(self, request: Recorded) -> Reply:
        """The answer when nothing is scripted (override)."""
        return 200, "ok", {}

    def respond(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)
