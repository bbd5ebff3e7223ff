"""``[llm]`` settings: the failover chain, per-task models, keys by provider, prices and the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import ConfigError, Settings, load_settings


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "barometer.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_the_chain_is_the_primary_then_the_fallbacks_with_models_per_task(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        '[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\nalert_model = "gpt-4.1-mini"\nmax_retries = 1\n'
        '[[llm.fallbacks]]\nprovider = "anthropic"\nmodel = "claude-sonnet-4-6"\n'
        '[[llm.fallbacks]]\nprovider = "gemini"\nmodel = "gemini-2.5-pro"\nalert_model = "gemini-2.5-flash"\n',
    )
    chain = settings.llm.chain()
    assert [(e.provider, e.model_for("digest"), e.model_for("alert")) for e in chain] == [
        ("openai", "gpt-4.1", "gpt-4.1-mini"),
        ("anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("gemini", "gemini-2.5-pro", "gemini-2.5-flash"),
    ]
    assert [e.api_key_env for e in chain] == ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]
    assert chain[0].max_retries == 1


def test_without_a_provider_there_is_no_chain(tmp_path: Path) -> None:
    assert _load(tmp_path, "").llm.chain() == ()


def test_environment_overrides_reach_the_llm_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAROMETER_LLM__PROVIDER", "xai")
    monkeypatch.setenv("BAROMETER_LLM__MODEL", "grok-4")
    monkeypatch.setenv("BAROMETER_LLM__MONTHLY_BUDGET_USD", "12.5")
    llm = _load(tmp_path, "").llm
    assert (llm.provider, llm.model, llm.api_key_env, llm.monthly_budget_usd) == ("xai", "grok-4", "XAI_API_KEY", 12.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[llm]\nprovider = "openai"\n', "llm.model: required when llm.provider is set (provider 'openai')"),
        (
            '[llm]\nprovider = "openai_compatible"\nmodel = "llama3"\n',
            "llm.base_url: required for provider 'openai_compatible'",
        ),
        (
            '[llm]\n[[llm.fallbacks]]\nprovider = "anthropic"\nmodel = "claude-haiku-4-5"\n',
            "llm.fallbacks: set llm.provider (the first model to try) before adding fallbacks",
        ),
        (
            '[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\n[[llm.fallbacks]]\nprovider = "anthropic"\n',
            "llm.fallbacks[0].model: Field required",
        ),
        (
            '[llm]\nprovider = "ollama"\nmodel = "llama3"\nmonthly_budget_usd = 5\n',
            "llm.prices: no price for model 'llama3', so llm.monthly_budget_usd cannot count it; "
            'add [llm.prices."llama3"] with input_per_mtok and output_per_mtok (USD)',
        ),
        ('[llm]\nprovider = "gpt"\n', "llm.provider: Input should be"),
        ("[llm]\nmax_prompt_tokens = 10\n", "llm.max_prompt_tokens: Input should be greater than or equal to 500"),
        ("[llm.prices.x]\ninput_per_mtok = -1\noutput_per_mtok = 1\n", "llm.prices.x.input_per_mtok: Input should be"),
    ],
)
def test_bad_llm_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'barometer.toml'}: {message}")


def test_a_priced_model_may_have_a_cap(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        '[llm]\nprovider = "ollama"\nmodel = "llama3"\nmonthly_budget_usd = 5\n'
        "[llm.prices.llama3]\ninput_per_mtok = 0\noutput_per_mtok = 0\n",
    )
    assert settings.llm.price_table().cost("llama3", 10**6, 10**6) == 0.0
