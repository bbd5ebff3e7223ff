"""Language models behind their vendors' SDKs: ``openai`` and ``anthropic``.

- :class:`OpenAIChatModel` speaks Chat Completions through the ``openai`` SDK. Besides
  OpenAI it serves every OpenAI-compatible endpoint by base URL: Google Gemini
  (``generativelanguage.googleapis.com/v1beta/openai/``), xAI Grok (``api.x.ai/v1``),
  Ollama (``localhost:11434/v1``), vLLM and proxies. The answer is forced into the JSON
  schema (``response_format``), or into any JSON object for endpoints without schemas.
- :class:`AnthropicModel` speaks Messages through the ``anthropic`` SDK and forces the
  answer into the schema as the input of a single tool. (The Messages API of this SDK
  takes no temperature; the setting applies to OpenAI-compatible endpoints.)

Timeouts and bounded retries (429, 5xx, connection errors; with backoff) are the SDKs'
own (``timeout``, ``max_retries``). Every vendor error becomes one :class:`LLMError` line
without secrets. Base URLs are always passed explicitly, so ``OPENAI_BASE_URL`` and the
like in the environment never redirect barometer's calls.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from jobs.errors import LLMError
from jobs.ports import Completion, ModelRequest

if TYPE_CHECKING:  # the SDKs take a second or two to import: only when a model is called
    import anthropic
    import openai

__all__ = ["DEFAULT_BASE_URLS", "AnthropicModel", "OpenAIChatModel"]

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "xai": "https://api.x.ai/v1",
    "ollama": "http://localhost:11434/v1",
    "anthropic": "https://api.anthropic.com",
}

JsonMode = Literal["json_schema", "json_object", "none"]


def _describe(exc: Exception, *, timeout: float, retries: int, secret: str) -> str:
    """One line for a vendor error (the same shape for both SDKs), with any secret removed."""
    import anthropic
    import openai

    if isinstance(exc, openai.APITimeoutError | anthropic.APITimeoutError):
        text = f"timed out after {timeout:g}s ({retries} retries)"
    elif isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError):
        text = f"cannot connect ({retries} retries): {exc}"
    elif isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        status = exc.status_code
        extra = " after retries" if status == 429 or status >= 500 else ""
        text = f"HTTP {status}{extra}: {exc.message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())[:300]
    return text.replace(secret, "[secret]") if secret else text


class _Base:
    def __init__(
        self,
        *,
        provider: str,
        model: str,
        base_url: str,
        api_key: SecretStr | None,
        key_name: str,
        timeout: float,
        max_retries: int,
        temperature: float | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URLS.get(provider, "")
        self._api_key = api_key
        self._key_name = key_name
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        if not self.base_url:
            raise LLMError(f"{provider}: a base_url is required")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, model={self.model!r}, base_url={self.base_url!r})"

    def _key(self, *, required: bool) -> str:
        if self._api_key is not None:
            return self._api_key.get_secret_value()
        if required:
            raise LLMError(
                f"{self.provider} {self.model}: no API key (environment variable {self._key_name or '?'} is empty)"
            )
        return "unused"  # local servers (Ollama) take no key, but the SDK insists on one

    def _fail(self, exc: Exception) -> LLMError:
        secret = self._api_key.get_secret_value() if self._api_key is not None else ""
        return LLMError(
            f"{self.provider} {self.model}: "
            + _describe(exc, timeout=self.timeout, retries=self.max_retries, secret=secret)
        )


class OpenAIChatModel(_Base):
    """Chat Completions on OpenAI or any OpenAI-compatible endpoint."""

    def __init__(self, *, json_mode: JsonMode = "json_schema", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.json_mode = json_mode
        self._client: openai.OpenAI | None = None

    def _connect(self) -> openai.OpenAI:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self._key(required=self.provider not in ("ollama", "openai_compatible")),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _options(self, request: ModelRequest) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.json_mode == "json_schema":
            schema = {"name": "summary", "schema": dict(request.schema), "strict": True}
            options["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif self.json_mode == "json_object":
            options["response_format"] = {"type": "json_object"}
        # OpenAI's newer models accept only max_completion_tokens; compatible servers know max_tokens
        limit = "max_completion_tokens" if self.provider == "openai" else "max_tokens"
        options[limit] = request.max_output_tokens
        if self.temperature is not None:
            options["temperature"] = self.temperature
        return options

    def complete(self, request: ModelRequest) -> Completion:
        import openai

        client = self._connect()
        messages: list[Any] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ]
        try:
            response = client.chat.completions.create(model=self.model, messages=messages, **self._options(request))
            return self._completion(response)
        except openai.OpenAIError as exc:
            raise self._fail(exc) from None
        except LLMError:
            raise
        except Exception as exc:  # the SDK or we choking on a broken response: this provider failed
            raise self._fail(exc) from exc

    def _completion(self, response: Any) -> Completion:
        if not response.choices:
            raise LLMError(f"{self.provider} {self.model}: the response has no choices")
        message = response.choices[0].message
        text = message.content or (f"(refused: {message.refusal})" if message.refusal else "")
        usage = response.usage
        return Completion(
            text=str(text),
            tokens_in=int(usage.prompt_tokens) if usage else None,
            tokens_out=int(usage.completion_tokens) if usage else None,
        )


class AnthropicModel(_Base):
    """Claude through the Messages API; the answer is the input of one forced tool call."""

    TOOL = "write_summary"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: anthropic.Anthropic | None = None

    def _connect(self) -> anthropic.Anthropic:
        import anthropic

        if self._client is None:
            self._client = anthropic.Anthropic(
                api_key=self._key(required=True),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def complete(self, request: ModelRequest) -> Completion:
        import anthropic

        client = self._connect()
        tool: Any = {
            "name": self.TOOL,
            "description": "Write the report's headline and paragraphs, citing fact ids.",
            "input_schema": dict(request.schema),
        }
        try:
            response = client.messages.create(
                model=self.model,
                max_tokens=request.max_output_tokens,
                system=request.system,
                messages=[{"role": "user", "content": request.user}],
                tools=[tool],
                tool_choice={"type": "tool", "name": self.TOOL},
            )
            return self._completion(response)
        except anthropic.AnthropicError as exc:
            raise self._fail(exc) from None
        except Exception as exc:  # the SDK or we choking on a broken response: this provider failed
            raise self._fail(exc) from exc

    @staticmethod
    def _completion(response: Any) -> Completion:
        text = ""
        for block in response.content:
            if block.type == "tool_use":
                text = json.dumps(block.input, ensure_ascii=False)
                break
            if block.type == "text":
                text += block.text
        return Completion(
            text=text, tokens_in=int(response.usage.input_tokens), tokens_out=int(response.usage.output_tokens)
        )
