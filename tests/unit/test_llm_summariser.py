"""The LLM summariser's decisions: accept, retry once naming the violations, fail over, fall back.

The models here are fakes of our own port (:class:`jobs.ports.LanguageModel`) that answer
from a script; the real SDKs against local servers are in tests/integration/test_llm_*.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.domain import Finding, LLMCall, LLMOutcome
from jobs.errors import LLMError
from jobs.ports import Completion, ModelRequest
from jobs.summary.llm import LLMSummariser, SummaryReport
from jobs.summary.pricing import Price, PriceTable
from jobs.summary.template import TemplateSummariser
from tests.fakes import DATA_DATE, sample_digest
from tests.fakes.llm import faithful_answer

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
FINDINGS = sample_digest().findings


def _facts(request: ModelRequest) -> dict[str, Any]:
    start = request.user.index("<facts>\n") + len("<facts>\n")
    facts: dict[str, Any] = json.loads(request.user[start : request.user.index("\n</facts>")])
    return facts


class ScriptedModel:
    """Answers each request with the next scripted item: "faithful", raw text, or an exception."""

    def __init__(self, *script: str | Exception, provider: str = "openai", model: str = "gpt-4.1-mini") -> None:
        self.provider = provider
        self.model = model
        self.script = list(script)
        self.requests: list[ModelRequest] = []

    def complete(self, request: ModelRequest) -> Completion:
        self.requests.append(request)
        item = self.script.pop(0) if self.script else "faithful"
        if isinstance(item, Exception):
            raise item
        text = json.dumps(faithful_answer(_facts(request))) if item == "faithful" else item
        return Completion(text, tokens_in=1000, tokens_out=100)


class MemoryCallLog:
    def __init__(self, spent: float = 0.0) -> None:
        self.calls: list[LLMCall] = []
        self.spent = spent

    def record(self, call: LLMCall) -> int:
        self.calls.append(call)
        return len(self.calls)

    def spent_since(self, start: datetime) -> float:
        assert start == datetime(2026, 11, 1, tzinfo=UTC)
        return self.spent + sum(c.cost_usd for c in self.calls)


def _summariser(*models: ScriptedModel, log: MemoryCallLog, **kwargs: Any) -> LLMSummariser:
    return LLMSummariser(
        models=models,
        calls=log,
        fallback=TemplateSummariser(properties=["shop"]),
        prices=PriceTable({"gpt-4.1-mini": Price(0.4, 1.6)}),
        now=lambda: NOW,
        **kwargs,
    )


def _run(summariser: LLMSummariser, findings: Sequence[Finding] = FINDINGS) -> SummaryReport:
    return summariser.report(findings, data_date=DATA_DATE)


def _outcomes(log: MemoryCallLog) -> list[str]:
    return [c.outcome.value for c in log.calls]


def test_a_faithful_answer_is_used_and_recorded_with_its_cost() -> None:
    log = MemoryCallLog()
    report = _run(_summariser(ScriptedModel("faithful"), log=log))

    assert report.summary.summariser == "openai gpt-4.1-mini (fact-checked)"
    assert report.summary.headline == "Key events down 98% on shop"
    assert report.summary.text.startswith("Key events on shop fell 98% to 4 against an expected 200 on 2026-11-18.")
    assert report.summary.call_ids == (1,)
    (call,) = log.calls
    assert (call.provider, call.model, call.outcome, call.prompt_version) == (
        "openai",
        "gpt-4.1-mini",
        LLMOutcome.OK,
        "digest/facts-v3",
    )
    assert (call.tokens_in, call.tokens_out) == (1000, 100)
    assert call.cost_usd == pytest.approx((1000 * 0.4 + 100 * 1.6) / 1e6)
    assert call.created_at == NOW


HALLUCINATED = json.dumps(
    {
        "headline": "Key events down 98%",
        "paragraphs": [{"text": "Key events fell 98%, costing 37 orders.", "facts": ["F1"]}],
    }
)


def test_a_rejected_answer_gets_one_retry_that_names_the_violations() -> None:
    model = ScriptedModel(HALLUCINATED, "faithful")
    log = MemoryCallLog()
    report = _run(_summariser(model, log=log))

    assert _outcomes(log) == ["rejected", "ok"]
    assert log.calls[0].detail == "paragraph 1: '37' matches no cited fact"
    assert "rejected by the fact checker" not in model.requests[0].user
    assert "paragraph 1: '37' matches no cited fact" in model.requests[1].user
    assert report.summary.summariser.endswith("(fact-checked)")
    assert report.summary.call_ids == (1, 2)


def test_two_rejections_mean_the_template() -> None:
    log = MemoryCallLog()
    report = _run(_summariser(ScriptedModel("not json at all", HALLUCINATED), log=log))

    assert _outcomes(log) == ["rejected", "rejected", "fallback"]
    assert log.calls[0].detail.startswith("the answer is not JSON")
    assert log.calls[2].detail == "the answer was rejected twice"
    template = TemplateSummariser(properties=["shop"]).summarise(FINDINGS, data_date=DATA_DATE)
    assert (report.summary.headline, report.summary.text) == (template.headline, template.text)
    assert (report.summary.summariser, report.summary.call_ids) == ("template", (1, 2, 3))
    assert "37" not in report.summary.text


def test_a_failing_model_hands_over_to_the_next_in_the_chain() -> None:
    first = ScriptedModel(LLMError("openai gpt-4.1-mini: timed out after 30s (2 retries)"))
    second = ScriptedModel(HALLUCINATED, "faithful", provider="anthropic", model="claude-haiku-4-5")
    log = MemoryCallLog()
    report = _run(_summariser(first, second, log=log))

    assert _outcomes(log) == ["error", "rejected", "ok"]
    assert [c.provider for c in log.calls] == ["openai", "anthropic", "anthropic"]
    assert log.calls[0].detail == "openai gpt-4.1-mini: timed out after 30s (2 retries)"
    assert report.summary.summariser == "anthropic claude-haiku-4-5 (fact-checked)"


def test_when_every_model_fails_the_template_goes_out() -> None:
    log = MemoryCallLog()
    report = _run(_summariser(ScriptedModel(LLMError("a: HTTP 500")), ScriptedModel(LLMError("b: no key")), log=log))

    assert _outcomes(log) == ["error", "error", "fallback"]
    assert log.calls[-1].detail == "no model answered (a: HTTP 500; b: no key)"
    assert report.summary.summariser == "template"


def test_the_monthly_cap_stops_calls_before_they_are_made() -> None:
    model = ScriptedModel()
    log = MemoryCallLog(spent=4.9999)
    report = _run(_summariser(model, log=log, monthly_budget_usd=5.0))

    assert model.requests == []
    assert _outcomes(log) == ["fallback"]
    assert log.calls[0].detail.startswith("monthly cost cap reached: $4.9999 spent in 2026-11 of ")
    assert report.summary.summariser == "template"


def test_under_the_cap_calls_go_ahead() -> None:
    log = MemoryCallLog(spent=1.0)
    assert _run(_summariser(ScriptedModel(), log=log, monthly_budget_usd=5.0)).answer is not None


def test_no_findings_means_no_call() -> None:
    model = ScriptedModel()
    log = MemoryCallLog()
    report = _run(_summariser(model, log=log), findings=())
    assert model.requests == []
    assert log.calls == []
    assert report.summary.headline == "All quiet on shop for 2026-11-18"


def test_a_prompt_that_cannot_fit_the_budget_falls_back() -> None:
    model = ScriptedModel()
    log = MemoryCallLog()
    _run(_summariser(model, log=log, max_prompt_tokens=100))
    assert model.requests == []
    assert log.calls[0].detail == "the top finding alone needs more than llm.max_prompt_tokens = 100"


def test_an_unexpected_error_still_gives_the_digest_a_summary() -> None:
    log = MemoryCallLog()
    report = _run(_summariser(ScriptedModel(RuntimeError("bug in a vendor SDK")), log=log))
    assert report.summary.summariser == "template"
    assert log.calls[-1].detail == "internal error: RuntimeError"


def test_fact_ids_written_into_the_prose_are_removed() -> None:
    answer = {
        "headline": "Key events down 98% (F1)",
        "paragraphs": [{"text": "Key events fell 98% to 4 [F1]. Sessions fell 41% (F2, F3).", "facts": ["F1", "F2"]}],
    }
    report = _run(_summariser(ScriptedModel(json.dumps(answer)), log=MemoryCallLog()))
    assert report.summary.headline == "Key events down 98%"
    assert report.summary.text == "Key events fell 98% to 4. Sessions fell 41%."


def test_an_alert_is_about_one_finding_and_says_so_in_the_prompt_version() -> None:
    model = ScriptedModel()
    log = MemoryCallLog()
    _run(_summariser(model, log=log, task="alert"))
    assert [f["id"] for f in _facts(model.requests[0])["findings"]] == ["F1"]
    assert "single real-time alert" in model.requests[0].system
    assert log.calls[0].prompt_version == "alert/facts-v3"


def test_invisible_characters_are_removed_from_what_goes_out() -> None:
    answer = {
        "headline": "Key events down 9\u200b8%",
        "paragraphs": [{"text": "Key events fell\u00ad 98% to \u202e4.", "facts": ["F1"]}],
    }
    report = _run(_summariser(ScriptedModel(json.dumps(answer)), log=MemoryCallLog()))
    assert report.summary.headline == "Key events down 98%"
    assert report.summary.text == "Key events fell 98% to 4."


def test_a_json_object_wrapped_in_prose_is_still_checked_and_used() -> None:
    answer = {"headline": "Key events down 98%", "paragraphs": [{"text": "Key events fell 98% to 4.", "facts": ["F1"]}]}
    wrapped = f"Here is the summary:\n{json.dumps(answer)}\nHope this helps!"
    report = _run(_summariser(ScriptedModel(wrapped), log=MemoryCallLog()))
    assert report.summary.text == "Key events fell 98% to 4."
