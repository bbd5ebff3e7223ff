"""The structured answer a model must give, validated with pydantic.

The answer is one JSON object: a headline and one to four paragraphs, each citing the ids
of the facts it uses. Anything else (prose around the JSON, missing keys, extra keys,
over-long text) is a malformed answer: :func:`parse_answer` raises :class:`MalformedAnswer`
with a one-line reason that the retry prompt can show the model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ANSWER_SCHEMA", "Answer", "MalformedAnswer", "Paragraph", "parse_answer"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class MalformedAnswer(ValueError):
    """The model's answer is not the JSON object that was asked for."""


class Paragraph(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=1500)
    facts: tuple[str, ...] = Field(default=(), max_length=30)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    headline: str = Field(min_length=1, max_length=160)
    paragraphs: tuple[Paragraph, ...] = Field(min_length=1, max_length=4)

    @property
    def cited(self) -> frozenset[str]:
        return frozenset(fact for p in self.paragraphs for fact in p.facts)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text.strip() for p in self.paragraphs)

    @property
    def words(self) -> int:
        return len(self.text.split())


#: The JSON schema sent to the providers (strict mode: every key required, nothing extra).
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "headline": {"type": "string", "description": "One line, at most 120 characters."},
        "paragraphs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "facts": {"type": "array", "items": {"type": "string"}, "description": "Fact ids, e.g. F1"},
                },
                "required": ["text", "facts"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["headline", "paragraphs"],
    "additionalProperties": False,
}


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"]) or "answer"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def _embedded_object(text: str) -> Any:
    """The JSON object inside prose ("Here you go: {...}"), or None. It is validated like any other."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None


def parse_answer(raw: str | dict[str, Any]) -> Answer:
    """The validated answer from a model's text (a JSON object, optionally in a code fence)."""
    if isinstance(raw, str):
        text = raw.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raw = _embedded_object(text)
            if raw is None:
                snippet = text[:60].replace("\n", " ")
                raise MalformedAnswer(
                    f"the answer is not JSON ({exc.msg} at char {exc.pos}; starts {snippet!r})"
                ) from None
    if not isinstance(raw, dict):
        raise MalformedAnswer(f"the answer is JSON but not an object (got {type(raw).__name__})")
    try:
        return Answer.model_validate(raw)
    except ValidationError as exc:
        raise MalformedAnswer(f"the answer does not match the schema: {_describe(exc)}") from None
