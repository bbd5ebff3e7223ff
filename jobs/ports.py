"""The small interfaces the pipeline depends on. Concrete adapters are chosen only by
the composition root (:mod:`worker.bootstrap`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from jobs.domain import Finding, LLMCall, Observation, PropertySpec

__all__ = [
    "CallLog",
    "Completion",
    "LanguageModel",
    "MetricSource",
    "ModelRequest",
    "Summariser",
    "Summary",
]


class MetricSource(Protocol):
    """Where a property's numbers come from (GA4, Search Console, a CSV, the demo)."""

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        """The newest date the source has finished counting for ``spec``."""
        ...

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        """Every observation from ``start`` to ``end`` inclusive, totals and breakdowns.

        Days after ``last_final_date`` are yielded flagged ``PointFlag.INCOMPLETE``.
        Raises :class:`jobs.errors.SourceError` subclasses.
        """
        ...


@dataclass(frozen=True, slots=True)
class Summary:
    headline: str
    text: str
    summariser: str
    #: Ids of the stored LLM calls made for it, to be linked to the digest once it is saved.
    call_ids: tuple[int, ...] = ()


class Summariser(Protocol):
    """Writes the plain-language opening of a digest. Never decides what is anomalous."""

    def summarise(self, findings: Sequence[Finding], *, data_date: date) -> Summary: ...


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a language model: instructions, the data, and the answer's JSON schema."""

    system: str
    user: str
    schema: Mapping[str, Any]
    max_output_tokens: int


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's raw answer. Token counts are None when the endpoint did not report them."""

    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None


class LanguageModel(Protocol):
    """A chat model behind a vendor SDK (OpenAI-compatible, Anthropic)."""

    provider: str
    model: str

    def complete(self, request: ModelRequest) -> Completion:
        """The model's answer; raises :class:`jobs.errors.LLMError` on any failure."""
        ...


class CallLog(Protocol):
    """Where every LLM call is recorded (the ``llm_call`` table), and what was spent."""

    def record(self, call: LLMCall) -> int:
        """Store ``call``; return its id."""
        ...

    def spent_since(self, start: datetime) -> float:
        """USD recorded for calls made at or after ``start``."""
        ...
