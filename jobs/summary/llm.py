"""The LLM summary: facts in, checked prose out, the template whenever anything goes wrong.

For each digest :class:`LLMSummariser`:

1. fits the findings into a fact sheet within the prompt token budget;
2. asks the first model of the chain; a failed call (timeout, HTTP error after the SDK's
   own retries, no key) moves on to the next model;
3. parses the answer (pydantic) and runs the faithfulness guard on it; a malformed or
   unfaithful answer gets exactly one retry that names the violations;
4. falls back to the deterministic template after a second rejection, when every model
   failed, when the monthly cost cap would be passed, or on any unexpected error.

Every call is recorded (provider, model, prompt version, tokens, cost, latency, outcome,
violations) through the :class:`~jobs.ports.CallLog`, and so is each fallback. The digest
always gets a summary; an unverified number never reaches it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple

from jobs.domain import Finding, LLMCall, LLMOutcome
from jobs.errors import LLMError
from jobs.ports import CallLog, LanguageModel, ModelRequest, Summariser, Summary
from jobs.summary.allowed import invisible_removed
from jobs.summary.answer import Answer, MalformedAnswer, Paragraph, parse_answer
from jobs.summary.facts import FactSheet
from jobs.summary.guard import check_answer
from jobs.summary.pricing import PriceTable, estimate_tokens
from jobs.summary.prompt import PROMPT_VERSION, Prompt, Task, fit_prompt

__all__ = ["Attempt", "LLMSummariser", "SummaryReport"]

log = logging.getLogger(__name__)

#: Answers rejected per digest before the template is used: the first, and one retry.
MAX_REJECTIONS = 2
_CITATIONS = re.compile(r"\s*[\[(]\s*F\d+(?:\s*(?:,|and|&)\s*F\d+)*\s*[\])]")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call (or fallback decision) and what came of it."""

    provider: str
    model: str
    outcome: LLMOutcome
    detail: str = ""
    violations: tuple[str, ...] = ()
    answer: Answer | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    call_id: int | None = None


class _Usage(NamedTuple):
    tokens_in: int
    tokens_out: int
    latency_ms: int


@dataclass(frozen=True, slots=True)
class SummaryReport:
    """The summary, every attempt behind it, and the facts it was checked against."""

    summary: Summary
    attempts: tuple[Attempt, ...]
    prompt: Prompt | None
    answer: Answer | None


def _tidy(answer: Answer) -> Answer:
    """The answer without invisible characters, and without "(F1)"-style ids in its prose."""

    def strip(text: str) -> str:
        text = invisible_removed(text)
        return _CITATIONS.sub("", text).strip() or text

    paragraphs = tuple(Paragraph(text=strip(p.text), facts=p.facts) for p in answer.paragraphs)
    return Answer(headline=strip(answer.headline), paragraphs=paragraphs)


class LLMSummariser:
    """A :class:`~jobs.ports.Summariser` that lets a model write, and believes only the facts."""

    def __init__(
        self,
        *,
        models: Sequence[LanguageModel],
        calls: CallLog,
        fallback: Summariser,
        prices: PriceTable,
        task: Task = "digest",
        properties: Sequence[str] = (),
        monthly_budget_usd: float = 0.0,
        max_prompt_tokens: int = 6000,
        max_findings: int = 10,
        max_contributors: int = 3,
        max_output_tokens: int = 800,
        now: Callable[[], datetime] = _utcnow,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.models = tuple(models)
        self._calls = calls
        self._fallback = fallback
        self._prices = prices
        self.task: Task = task
        self._properties = tuple(properties)
        self._budget = monthly_budget_usd
        self._max_prompt_tokens = max_prompt_tokens
        self._max_findings = max_findings
        self._max_contributors = max_contributors
        self._max_output_tokens = max_output_tokens
        self._now = now
        self._timer = timer

    def summarise(self, findings: Sequence[Finding], *, data_date: date) -> Summary:
        return self.report(findings, data_date=data_date).summary

    def report(self, findings: Sequence[Finding], *, data_date: date) -> SummaryReport:
        """Like :meth:`summarise`, with every attempt (for evaluation and tests)."""
        if not findings:  # nothing to explain: no call, no cost
            return SummaryReport(self._fallback.summarise(findings, data_date=data_date), (), None, None)
        attempts: list[Attempt] = []
        prompt: Prompt | None = None
        try:
            prompt = fit_prompt(
                findings,
                data_date=data_date,
                properties=self._properties,
                task=self.task,
                max_findings=self._max_findings,
                max_contributors=self._max_contributors,
                max_tokens=self._max_prompt_tokens,
            )
            if prompt is None:
                reason = f"the top finding alone needs more than llm.max_prompt_tokens = {self._max_prompt_tokens}"
                return self._give_up(findings, data_date, attempts, prompt, reason)
            return self._ask_chain(findings, data_date, prompt, attempts)
        except Exception as exc:  # a bug here must never cost the digest its summary
            log.exception("LLM summary failed unexpectedly; using the template")
            return self._give_up(findings, data_date, attempts, prompt, f"internal error: {type(exc).__name__}")

    def _ask_chain(
        self, findings: Sequence[Finding], data_date: date, prompt: Prompt, attempts: list[Attempt]
    ) -> SummaryReport:
        rejected: tuple[str, ...] = ()
        for model in self.models:
            while True:
                request = prompt.request(max_output_tokens=self._max_output_tokens, rejected=rejected)
                over = self._over_budget(model, request)
                if over:
                    return self._give_up(findings, data_date, attempts, prompt, over)
                attempt = self._ask(model, request, prompt.sheet)
                attempts.append(attempt)
                if attempt.outcome is LLMOutcome.OK and attempt.answer is not None:
                    return self._accept(model, attempt.answer, attempts, prompt)
                if attempt.outcome is LLMOutcome.ERROR:
                    break  # the next model in the chain, with the same retry budget
                if sum(a.outcome is LLMOutcome.REJECTED for a in attempts) >= MAX_REJECTIONS:
                    return self._give_up(findings, data_date, attempts, prompt, "the answer was rejected twice")
                rejected = attempt.violations
        failed = "; ".join(a.detail for a in attempts if a.outcome is LLMOutcome.ERROR)
        return self._give_up(findings, data_date, attempts, prompt, f"no model answered ({failed})")

    def _ask(self, model: LanguageModel, request: ModelRequest, sheet: FactSheet) -> Attempt:
        started = self._timer()
        try:
            completion = model.complete(request)
        except LLMError as exc:
            latency = round((self._timer() - started) * 1000)
            log.warning("LLM call failed: %s", exc)
            return self._record(model, LLMOutcome.ERROR, usage=_Usage(0, 0, latency), detail=str(exc))
        latency = round((self._timer() - started) * 1000)
        tokens_in = completion.tokens_in
        if tokens_in is None:  # some compatible servers do not report usage
            tokens_in = estimate_tokens(request.system, request.user)
        tokens_out = completion.tokens_out if completion.tokens_out is not None else estimate_tokens(completion.text)
        usage = _Usage(tokens_in, tokens_out, latency)
        try:
            answer = _tidy(parse_answer(completion.text))
        except MalformedAnswer as exc:
            log.warning("LLM answer from %s %s is malformed: %s", model.provider, model.model, exc)
            return self._record(model, LLMOutcome.REJECTED, usage=usage, violations=(str(exc),))
        violations = tuple(str(v) for v in check_answer(answer, sheet))
        if violations:
            log.warning("LLM answer from %s %s rejected: %s", model.provider, model.model, "; ".join(violations))
            return self._record(model, LLMOutcome.REJECTED, usage=usage, violations=violations, answer=answer)
        return self._record(model, LLMOutcome.OK, usage=usage, answer=answer)

    def _record(
        self,
        model: LanguageModel,
        outcome: LLMOutcome,
        *,
        usage: _Usage,
        detail: str = "",
        violations: tuple[str, ...] = (),
        answer: Answer | None = None,
    ) -> Attempt:
        tokens_in, tokens_out, latency_ms = usage
        cost = self._prices.cost(model.model, tokens_in, tokens_out)
        detail = detail or "; ".join(violations)
        call = LLMCall(
            provider=model.provider,
            model=model.model,
            prompt_version=f"{self.task}/{PROMPT_VERSION}",
            outcome=outcome,
            created_at=self._now(),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_ms=latency_ms,
            detail=detail[:4000],
        )
        call_id = self._calls.record(call)
        return Attempt(
            model.provider,
            model.model,
            outcome,
            detail,
            violations,
            answer,
            tokens_in,
            tokens_out,
            cost,
            latency_ms,
            call_id,
        )

    def _over_budget(self, model: LanguageModel, request: ModelRequest) -> str | None:
        """Why the next call would pass the monthly cap, or None (also when there is no cap)."""
        if self._budget <= 0:
            return None
        now = self._now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        spent = self._calls.spent_since(month)
        prompt_tokens = estimate_tokens(request.system, request.user)
        projected = self._prices.cost(model.model, prompt_tokens, request.max_output_tokens)
        if spent + projected <= self._budget:
            return None
        return (
            f"monthly cost cap reached: ${spent:.4f} spent in {now:%Y-%m} of llm.monthly_budget_usd = "
            f"${self._budget:.2f} (the next call may cost ${projected:.4f})"
        )

    def _accept(self, model: LanguageModel, answer: Answer, attempts: list[Attempt], prompt: Prompt) -> SummaryReport:
        summary = Summary(
            headline=" ".join(answer.headline.split()),
            text=answer.text,
            summariser=f"{model.provider} {model.model} (fact-checked)"[:100],
            call_ids=tuple(a.call_id for a in attempts if a.call_id is not None),
        )
        return SummaryReport(summary, tuple(attempts), prompt, answer)

    def _give_up(
        self,
        findings: Sequence[Finding],
        data_date: date,
        attempts: list[Attempt],
        prompt: Prompt | None,
        reason: str,
    ) -> SummaryReport:
        log.warning("LLM summary not used (%s); the template summary goes out", reason)
        call = LLMCall(
            provider="template",
            model="",
            prompt_version=f"{self.task}/{PROMPT_VERSION}",
            outcome=LLMOutcome.FALLBACK,
            created_at=self._now(),
            detail=reason[:4000],
        )
        call_id = self._calls.record(call)
        attempts.append(Attempt("template", "", LLMOutcome.FALLBACK, reason, call_id=call_id))
        template = self._fallback.summarise(findings, data_date=data_date)
        ids = tuple(a.call_id for a in attempts if a.call_id is not None)
        summary = Summary(template.headline, template.text, template.summariser, ids)
        return SummaryReport(summary, tuple(attempts), prompt, None)
