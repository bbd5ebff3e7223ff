"""Evaluating a summariser on a golden set of finding bundles.

A bundle is a JSON file: a name, the data date, and findings in the detect-output shape
(``property``, ``series``, ``metric``, ``date``, ``kind``, ``direction``, ``severity``,
``value``, ``expected``, ``lower``, ``upper``) plus ``contributors`` (``series``, ``value``,
``expected``, ``share``). The shipped set lives in ``jobs/summary/golden/``.

Each bundle is scored on: faithfulness (did the first answer pass the guard; how many
violations), the final outcome (model text used, or the template), coverage (how many of
the top three findings the answer cites), and length (words within the task's bound).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.domain import Anomaly, Contributor, Direction, Finding, Kind, LLMOutcome, Severity
from jobs.errors import InputError

if TYPE_CHECKING:
    from jobs.summary.llm import SummaryReport

__all__ = ["GOLDEN_DIR", "Bundle", "Score", "format_table", "load_bundles", "score"]

GOLDEN_DIR = Path(__file__).parent / "golden"
#: Words a summary may have, per task.
WORD_LIMITS = {"digest": (10, 70), "alert": (5, 80)}
TOP = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleContributor(_Strict):
    series: str
    value: float
    expected: float
    share: float = Field(ge=0, le=1)


class BundleFinding(_Strict):
    property: str
    series: str = "total"
    metric: str
    date: dt.date
    kind: Kind
    direction: Direction
    severity: Severity
    value: float
    expected: float
    lower: float
    upper: float
    contributors: tuple[BundleContributor, ...] = ()

    def finding(self) -> Finding:
        anomaly = Anomaly(
            self.property,
            self.series,
            self.metric,
            self.date,
            self.value,
            self.expected,
            self.lower,
            self.upper,
            1e-6,
            None,
            self.direction,
            self.kind,
        )
        contributors = tuple(Contributor(c.series, c.value, c.expected, c.share) for c in self.contributors)
        return Finding(anomaly, self.severity, contributors)


class Bundle(_Strict):
    name: str
    description: str = ""
    data_date: dt.date
    properties: tuple[str, ...] = ()
    findings: tuple[BundleFinding, ...] = Field(min_length=1)

    def domain_findings(self) -> tuple[Finding, ...]:
        return tuple(f.finding() for f in self.findings)


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    return f"{loc or 'bundle'}: {error['msg']}"


def load_bundles(path: Path) -> tuple[Bundle, ...]:
    """The bundles in ``path`` (a JSON file, or a directory of ``*.json``), by file name.

    Raises :class:`InputError` naming the file and the field on the first bad one.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not path.exists():
        raise InputError(f"--golden {path}: no such file or directory")
    if not files:
        raise InputError(f"--golden {path}: no *.json bundles in this directory")
    bundles = []
    for file in files:
        try:
            raw: Any = json.loads(file.read_text(encoding="utf-8"))
            bundles.append(Bundle.model_validate(raw))
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            raise InputError(f"{file}: {_problem(exc)}") from None
    return tuple(bundles)


@dataclass(frozen=True, slots=True)
class Score:
    """How one bundle went."""

    bundle: str
    outcome: str  # "llm" (the model's text was used) or "template"
    first: str  # the first answer: ok | rejected | error
    violations: int  # in the first answer
    covered: int  # of the top findings, how many the (last) answer cites
    top: int
    words: int
    length_ok: bool
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: int

    @property
    def faithful_first(self) -> bool:
        return self.first == "ok"


def score(bundle: Bundle, report: SummaryReport, *, task: str = "digest") -> Score:
    """Score one summariser report on ``bundle``."""
    calls = [a for a in report.attempts if a.outcome is not LLMOutcome.FALLBACK]
    answers = [a for a in calls if a.answer is not None]
    first = calls[0] if calls else None
    last = report.answer or (answers[-1].answer if answers else None)
    top_ids = [f.id for f in report.prompt.sheet.findings[:TOP]] if report.prompt else []
    covered = sum(1 for fid in top_ids if last is not None and fid in last.cited)
    words = last.words if last is not None else 0
    low, high = WORD_LIMITS.get(task, WORD_LIMITS["digest"])
    return Score(
        bundle=bundle.name,
        outcome="llm" if report.answer is not None else "template",
        first=first.outcome.value if first else "none",
        violations=len(first.violations) if first else 0,
        covered=covered,
        top=len(top_ids),
        words=words,
        length_ok=last is not None and low <= words <= high,
        tokens_in=sum(a.tokens_in for a in calls),
        tokens_out=sum(a.tokens_out for a in calls),
        cost_usd=sum(a.cost_usd for a in calls),
        latency_ms=sum(a.latency_ms for a in calls),
    )


def format_table(scores: Sequence[Score]) -> str:
    """The scores as a fixed-width table with a totals line."""
    head = (
        f"{'bundle':<24} {'outcome':<8} {'first':<9} {'viol':>4} {'coverage':>8} {'words':>5} "
        f"{'len':<4} {'tokens in/out':>13} {'cost $':>9} {'ms':>6}"
    )
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(
            f"{s.bundle[:24]:<24} {s.outcome:<8} {s.first:<9} {s.violations:>4} {f'{s.covered}/{s.top}':>8} "
            f"{s.words:>5} {'ok' if s.length_ok else 'bad':<4} {f'{s.tokens_in}/{s.tokens_out}':>13} "
            f"{s.cost_usd:>9.5f} {s.latency_ms:>6}"
        )
    n = len(scores) or 1
    faithful = sum(s.faithful_first for s in scores)
    used = sum(s.outcome == "llm" for s in scores)
    coverage = sum(s.covered for s in scores) / max(1, sum(s.top for s in scores))
    lines.append("-" * len(head))
    lines.append(
        f"faithful first answers {faithful}/{len(scores)} ({faithful / n:.0%}), model text used {used}/{len(scores)}, "
        f"coverage of top findings {coverage:.0%}, length ok {sum(s.length_ok for s in scores)}/{len(scores)}, "
        f"cost ${sum(s.cost_usd for s in scores):.5f}"
    )
    return "\n".join(lines)
