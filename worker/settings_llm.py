"""The ``[llm]`` section: the model chain, per-task models, prices, the cost cap, the prompt budget.

Part of :mod:`worker.settings` (which holds it as ``Settings.llm``); kept apart because it
is large. API keys are never here: ``api_key_env`` names the variable that holds one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.summary.pricing import Price, PriceTable

__all__ = ["LLM_KEY_ENV", "LLMEndpointSettings", "LLMPrice", "LLMProvider", "LLMSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LLMProvider = Literal["openai", "anthropic", "gemini", "xai", "ollama", "openai_compatible"]

#: The environment variable each provider's key is read from when ``api_key_env`` is not set.
LLM_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "xai": "XAI_API_KEY",
    "ollama": "",
    "openai_compatible": "LLM_API_KEY",
}


class LLMEndpointSettings(_Section):
    """One model provider in the failover chain: where to call, which models, how patiently."""

    provider: LLMProvider
    #: The model that writes the daily digest (the stronger one).
    model: str = Field(min_length=1)
    #: The fast, cheap model for single real-time alerts ("": use ``model``).
    alert_model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    #: How the answer is forced into JSON on OpenAI-compatible endpoints.
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    temperature: float | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="before")
    @classmethod
    def _default_key_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("api_key_env"):
            data = {**data, "api_key_env": LLM_KEY_ENV.get(str(data.get("provider", "")), "")}
        return data

    def model_for(self, task: Literal["digest", "alert"]) -> str:
        return (self.alert_model or self.model) if task == "alert" else self.model


class LLMPrice(_Section):
    """USD per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class LLMSettings(_Section):
    provider: Literal["", "openai", "anthropic", "gemini", "xai", "ollama", "openai_compatible"] = ""
    model: str = ""
    alert_model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_output_tokens: int = Field(default=800, ge=100, le=8000)
    max_prompt_tokens: int = Field(default=6000, ge=500)
    max_findings: int = Field(default=10, ge=1, le=100)
    max_contributors: int = Field(default=3, ge=0, le=20)
    monthly_budget_usd: float = Field(default=0.0, ge=0)
    fallbacks: tuple[LLMEndpointSettings, ...] = ()
    prices: dict[str, LLMPrice] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_key_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("api_key_env") and data.get("provider"):
            data = {**data, "api_key_env": LLM_KEY_ENV.get(str(data["provider"]), "")}
        return data

    @model_validator(mode="after")
    def _complete(self) -> LLMSettings:
        if self.provider and not self.model:
            raise ValueError(f"llm.model: required when llm.provider is set (provider {self.provider!r})")
        if not self.provider and self.fallbacks:
            raise ValueError("llm.fallbacks: set llm.provider (the first model to try) before adding fallbacks")
        for i, endpoint in enumerate(self.chain()):
            where = "llm" if i == 0 else f"llm.fallbacks[{i - 1}]"
            if endpoint.provider == "openai_compatible" and not endpoint.base_url:
                raise ValueError(f"{where}.base_url: required for provider 'openai_compatible'")
            if self.monthly_budget_usd > 0:
                for model in {endpoint.model, endpoint.alert_model} - {""}:
                    if self.price_table().price(model) is None:
                        raise ValueError(
                            f"llm.prices: no price for model {model!r}, so llm.monthly_budget_usd cannot count it; "
                            f'add [llm.prices."{model}"] with input_per_mtok and output_per_mtok (USD)'
                        )
        return self

    def price_table(self) -> PriceTable:
        """The built-in prices with ``[llm.prices]`` over them."""
        return PriceTable({name: Price(p.input_per_mtok, p.output_per_mtok) for name, p in self.prices.items()})

    def chain(self) -> tuple[LLMEndpointSettings, ...]:
        """The primary endpoint, then the fallbacks, in the order they are tried; () without an LLM."""
        if not self.provider:
            return ()
        keys = ("provider", "model", "alert_model", "base_url", "api_key_env", "timeout_seconds", "max_retries")
        primary = LLMEndpointSettings(
            **{k: getattr(self, k) for k in (*keys, "json_mode", "temperature")},
        )
        return (primary, *self.fallbacks)
