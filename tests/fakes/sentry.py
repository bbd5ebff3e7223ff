"""A local stand-in for Sentry's ingest API, driven by the real sentry-sdk.

Point a DSN at :attr:`FakeSentry.dsn` (``http://public@127.0.0.1:PORT/1``); the SDK's own
HTTP transport posts envelopes to ``POST /api/<project>/envelope/``. The server accepts
plain or gzip bodies, parses the envelope format (one header line, then item header /
payload pairs, payloads sized by ``length`` or ending at the newline) and records what
arrived. It records before it answers, so after ``sentry_sdk.flush()`` returns the
envelopes are here.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import LocalServer

__all__ = ["Envelope", "FakeSentry", "Item", "parse_envelope"]

_ENVELOPE_PATH = re.compile(r"^/api/(?P<project>[^/]+)/envelope/?$")


@dataclass(frozen=True)
class Item:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class Envelope:
    project: str
    auth: str
    headers: dict[str, Any]
    items: tuple[Item, ...]
    raw: bytes = field(repr=False)


def parse_envelope(body: bytes) -> tuple[dict[str, Any], tuple[Item, ...]]:
    """Split a Sentry envelope into its header and items; raise ValueError on a malformed one."""
    header_line, _, rest = body.partition(b"\n")
    headers = json.loads(header_line)
    items: list[Item] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_headers = json.loads(item_line)
        if "length" in item_headers:
            length = int(item_headers["length"])
            if len(rest) < length:
                raise ValueError(f"item declares length {length} but only {len(rest)} bytes follow")
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append(Item(headers=item_headers, payload=payload))
    return headers, tuple(items)


class FakeSentry(LocalServer):
    """Records every envelope posted to it. Use as a context manager (starts/stops the server)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self.url = self._serve(self._handler())

    @property
    def dsn(self) -> str:
        return self.url.replace("http://", "http://public@", 1) + "/1"

    def items(self, kind: str) -> list[Item]:
        with self._lock:
            return [item for env in self.envelopes for item in env.items if item.type == kind]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [item.json() for item in self.items("event")]

    @property
    def check_ins(self) -> list[dict[str, Any]]:
        return [item.json() for item in self.items("check_in")]

    @property
    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(env.raw for env in self.envelopes)

    def _record(self, path: str, auth: str, encoding: str, body: bytes) -> int:
        match = _ENVELOPE_PATH.match(path.split("?", 1)[0])
        if match is None:
            self.rejected.append(f"unknown path {path}")
            return 404
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in ("", "identity"):
            self.rejected.append(f"unsupported Content-Encoding {encoding}")
            return 415
        try:
            headers, items = parse_envelope(body)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            self.rejected.append(f"bad envelope: {exc}")
            return 400
        with self._lock:
            self.envelopes.append(Envelope(match["project"], auth, headers, items, body))
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = fake._record(
                    self.path,
                    self.headers.get("X-Sentry-Auth", ""),
                    self.headers.get("Content-Encoding", "").lower(),
                    body,
                )
                reply = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the default stderr access log."""

        return Handler
