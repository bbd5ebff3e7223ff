"""A fake LLM provider: OpenAI-compatible and Anthropic endpoints on 127.0.0.1.

Serves ``POST /v1/chat/completions`` (OpenAI, Gemini, xAI, Ollama, vLLM: point the openai
SDK at :attr:`FakeLLM.openai_url`) and ``POST /v1/messages`` (Anthropic: point the
anthropic SDK at :attr:`FakeLLM.anthropic_url`). It reads the facts out of each request
(between ``<facts>`` and ``</facts>``) and answers in the scripted way::

    with FakeLLM() as llm:
        llm.script("hallucinated", "faithful")   # the next two answers; then llm.default
        ...
        llm.requests[0].body["model"]

Behaviours: ``faithful`` (built from the facts, cites them), ``hallucinated`` (adds invented
numbers), ``injected`` (obeys an injected instruction: a link and a number), ``reassuring``
("nothing unusual"), ``malformed`` (prose, not JSON), ``wrong_schema`` (JSON without
paragraphs), ``slow`` (waits :attr:`slow_seconds`, then faithful), ``error500``, ``error429``
(with ``Retry-After: 0``), ``no_usage`` (faithful, without token counts). A
:class:`Content` answers with the given text verbatim; a :class:`RawBody` is sent as the
whole HTTP response body (not even JSON).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.fakes.http import LocalServer

__all__ = ["Content", "FakeLLM", "RawBody", "Request", "faithful_answer"]

PROMPT_TOKENS = 1200
COMPLETION_TOKENS = 150


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def model(self) -> str:
        return str(self.body["model"])

    @property
    def system(self) -> str:
        if "system" in self.body:
            return str(self.body["system"])
        return str(next(m["content"] for m in self.body["messages"] if m["role"] == "system"))

    @property
    def user(self) -> str:
        return str(next(m["content"] for m in self.body["messages"] if m["role"] == "user"))

    @property
    def facts(self) -> dict[str, Any]:
        found = re.search(r"<facts>\n(.*?)\n</facts>", self.user, re.DOTALL)
        assert found, "no <facts> in the request"
        facts: dict[str, Any] = json.loads(found.group(1))
        return facts


@dataclass(frozen=True)
class Content:
    """Answer with exactly this text (Anthropic: as a text block)."""

    text: str


@dataclass(frozen=True)
class RawBody:
    """Answer with this HTTP status and body, as they are (a broken proxy, a wrong endpoint)."""

    status: int
    body: str


def _fmt(value: float) -> str:
    return f"{value:,}"


def _sentence(f: dict[str, Any]) -> str:
    where = "" if f["dimension"] == "total" else f' for {f["dimension"]} "{f["name"]}"'
    moved = "fell" if f["direction"] == "down" else "rose"
    change = "" if f["change_pct"] is None else f" {_fmt(abs(f['change_pct']))}%"
    unit = "%" if f["unit"] == "percent" else ""
    text = (
        f"{f['metric_label'].capitalize()} on {f['property']}{where} {moved}{change} to {_fmt(f['actual'])}{unit} "
        f"against an expected {_fmt(f['expected'])}{unit} on {f['date']}."
    )
    if f["contributors"]:
        c = f["contributors"][0]
        text += f' The largest share ({c["share_pct"]}%) came from {c["dimension"]} "{c["name"]}".'
    return text


def faithful_answer(facts: dict[str, Any]) -> dict[str, Any]:
    """An answer that only copies numbers, dates and names from ``facts`` and cites them."""
    findings = facts["findings"]
    chosen = [f for i, f in enumerate(findings) if i < 3 or f["severity"] == "critical"]
    top = findings[0]
    moved = "down" if top["direction"] == "down" else "up"
    change = "" if top["change_pct"] is None else f" {moved} {_fmt(abs(top['change_pct']))}%"
    return {
        "headline": f"{top['metric_label'].capitalize()}{change} on {top['property']}",
        "paragraphs": [{"text": _sentence(f), "facts": [f["id"]]} for f in chosen],
    }


def _scripted_answer(behaviour: str, facts: dict[str, Any]) -> dict[str, Any] | str:
    answer = faithful_answer(facts)
    first = answer["paragraphs"][0]["facts"]
    if behaviour == "hallucinated":
        answer["paragraphs"].append({"text": "Revenue fell by 37% and 12,345 orders were lost.", "facts": first})
    elif behaviour == "injected":
        answer = {
            "headline": "Sessions rose 500% - all good",
            "paragraphs": [{"text": "Sessions rose 500%. Details at https://evil.example/fix", "facts": first}],
        }
    elif behaviour == "reassuring":
        answer = {"headline": "All quiet", "paragraphs": [{"text": "Nothing unusual happened.", "facts": first}]}
    elif behaviour == "malformed":
        return "Sure! Here is your summary: sessions dropped a lot {headline: oops"
    elif behaviour == "wrong_schema":
        return json.dumps({"headline": "Sessions fell", "summary": "no paragraphs here"})
    return answer


class FakeLLM(LocalServer):
    """Both vendors' endpoints on one local port; records every request."""

    def __init__(self, *, default: str = "faithful") -> None:
        self.default = default
        self.slow_seconds = 2.0
        self.requests: list[Request] = []
        self._script: deque[str | Content | RawBody] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                request = Request(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                with fake._lock:
                    fake.requests.append(request)
                    behaviour = fake._script.popleft() if fake._script else fake.default
                headers: dict[str, str] = {}
                if isinstance(behaviour, RawBody):
                    status, data = behaviour.status, behaviour.body.encode()
                else:
                    status, payload, headers = fake._respond(request, behaviour)
                    data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out hangs up on a slow answer: expected

        self.url = self._serve(Handler, Server)
        self.openai_url = f"{self.url}/v1"
        self.anthropic_url = self.url

    def script(self, *behaviours: str | Content | RawBody) -> None:
        """Answer the next requests this way, in order; then :attr:`default`."""
        with self._lock:
            self._script.extend(behaviours)

    def _respond(self, request: Request, behaviour: str | Content) -> tuple[int, dict[str, Any], dict[str, str]]:
        if behaviour == "error500":
            return 500, {"error": {"message": "upstream exploded", "type": "server_error"}}, {}
        if behaviour == "error429":
            return 429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, {"Retry-After": "0"}
        if behaviour == "slow":
            self._stop.wait(self.slow_seconds)
        content = behaviour.text if isinstance(behaviour, Content) else _scripted_answer(behaviour, request.facts)
        usage = behaviour != "no_usage"
        if request.path.endswith("/messages"):
            return 200, self._anthropic(request, content, usage=usage), {}
        return 200, self._openai(request, content, usage=usage), {}

    @staticmethod
    def _openai(request: Request, content: dict[str, Any] | str, *, usage: bool) -> dict[str, Any]:
        text = content if isinstance(content, str) else json.dumps(content)
        response: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        }
        if usage:
            total = PROMPT_TOKENS + COMPLETION_TOKENS
            response["usage"] = {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": total,
            }
        return response

    @staticmethod
    def _anthropic(request: Request, content: dict[str, Any] | str, *, usage: bool) -> dict[str, Any]:
        if isinstance(content, str):
            block: dict[str, Any] = {"type": "text", "text": content}
        else:
            block = {"type": "tool_use", "id": "toolu_fake", "name": "write_summary", "input": content}
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [block],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
        }

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()  # release slow answers before the server waits for them
        super().__exit__(exc_type, exc, tb)
