"""The facts a language model may use: findings as structured data with ids.

A :class:`FactSheet` is both what the model is shown (:meth:`FactSheet.payload`, JSON with
ids ``F1``, ``F2``, ...) and what its answer is checked against (:mod:`jobs.summary.guard`).
Values are kept exact here; the payload shows them rounded the way a person writes them.
Series names (page paths, search queries) are untrusted public text: they are cleaned of
control characters, bounded in length and only ever travel as JSON strings.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from jobs.domain import RATE_METRICS, TOTAL_SERIES, Decomposition, Finding
from jobs.naming import DIMENSION_LABELS, metric_label, neutralise_bidi, series_label

__all__ = [
    "ContributorFact",
    "DecompositionFact",
    "FactSheet",
    "FactorFact",
    "FindingFact",
    "build_sheet",
    "display_number",
    "split_series",
]

#: Longest name shown to the model; longer ones are cut with an ellipsis.
MAX_NAME = 150

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _clean(text: str) -> str:
    flat = neutralise_bidi(_CONTROL.sub(" ", text)).strip()
    return flat if len(flat) <= MAX_NAME else flat[: MAX_NAME - 1].rstrip() + "…"


def split_series(series: str) -> tuple[str, str]:
    """``"landingPage:/pricing"`` -> ``("landing page", "/pricing")``; the total -> ``("total", "all traffic")``."""
    if series == TOTAL_SERIES:
        return "total", "all traffic"
    dimension, sep, value = series.partition(":")
    if not sep:
        return "series", _clean(series)
    return DIMENSION_LABELS.get(dimension.rsplit("/", 1)[-1], _clean(dimension)), _clean(value)


def display_number(value: float) -> float | int | None:
    """``value`` as a person would copy it: whole above 100, one decimal above 10, else two."""
    if not math.isfinite(value):
        return None
    if abs(value) >= 100:
        return round(value)
    rounded = round(value, 1) if abs(value) >= 10 else round(value, 2)
    return int(rounded) if float(rounded).is_integer() else rounded


@dataclass(frozen=True, slots=True)
class ContributorFact:
    """A child series behind a finding. Values are in the finding's unit; share is 0..1."""

    dimension: str
    name: str
    actual: float
    expected: float
    share: float

    @property
    def change_pct(self) -> float | None:
        return None if self.expected == 0 else (self.actual - self.expected) / self.expected * 100


def _percent(actual: float, expected: float) -> float | None:
    return None if expected == 0 else (actual - expected) / expected * 100


def _measured(actual: float, expected: float) -> dict[str, Any]:
    """``actual``, ``expected`` and ``change_pct`` as the facts show them."""
    change = _percent(actual, expected)
    return {
        "actual": display_number(actual),
        "expected": display_number(expected),
        "change_pct": None if change is None else display_number(change),
    }


@dataclass(frozen=True, slots=True)
class FactorFact:
    """One factor of a product metric (impressions or CTR of clicks). ``unit`` as for a finding;
    rates (CTR, conversion rate) are in percent (x100)."""

    name: str
    unit: str
    actual: float
    expected: float

    @property
    def change_pct(self) -> float | None:
        return _percent(self.actual, self.expected)

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, **_measured(self.actual, self.expected)}


@dataclass(frozen=True, slots=True)
class DecompositionFact:
    """A product metric (clicks, key events: always a count) split into its factors on the
    finding's day; ``factors[0]`` drove the change."""

    metric_label: str
    actual: float
    expected: float
    factors: tuple[FactorFact, ...]

    @property
    def change_pct(self) -> float | None:
        return _percent(self.actual, self.expected)

    def payload(self) -> dict[str, Any]:
        return {
            "metric_label": self.metric_label,
            **_measured(self.actual, self.expected),
            "driven_by": self.factors[0].name,
            "factors": [f.payload() for f in self.factors],
        }


@dataclass(frozen=True, slots=True)
class FindingFact:
    """One finding as the model sees it. ``unit`` is count, percent (CTR, x100), position or value."""

    id: str
    property: str
    metric: str
    metric_label: str
    dimension: str
    name: str
    kind: str
    direction: str
    severity: str
    day: date
    unit: str
    actual: float
    expected: float
    lower: float
    upper: float
    contributors: tuple[ContributorFact, ...] = ()
    #: Which factor of a product metric drove the change (``Finding.drivers``), or None.
    decomposition: DecompositionFact | None = None

    @builtins.property  # the field named ``property`` shadows the builtin here
    def change_pct(self) -> float | None:
        """Relative change in percent; None when the expectation was zero ("up from zero")."""
        return _percent(self.actual, self.expected)

    def payload(self) -> dict[str, Any]:
        change = self.change_pct
        out: dict[str, Any] = {
            "id": self.id,
            "property": self.property,
            "metric": self.metric,
            "metric_label": self.metric_label,
            "dimension": self.dimension,
            "name": self.name,
            "kind": self.kind,
            "direction": self.direction,
            "severity": self.severity,
            "date": self.day.isoformat(),
            "unit": self.unit,
            "actual": display_number(self.actual),
            "expected": display_number(self.expected),
            "usual_range": [display_number(self.lower), display_number(self.upper)],
            "change_pct": None if change is None else display_number(change),
            "contributors": [
                {
                    "dimension": c.dimension,
                    "name": c.name,
                    "actual": display_number(c.actual),
                    "expected": display_number(c.expected),
                    "share_pct": round(c.share * 100) if math.isfinite(c.share) else None,
                }
                for c in self.contributors
            ],
        }
        if self.decomposition is not None:
            out["decomposition"] = self.decomposition.payload()
        return out


@dataclass(frozen=True, slots=True)
class FactSheet:
    """Everything a summary may state: the data date, the properties and the findings shown."""

    data_date: date
    properties: tuple[str, ...]
    findings: tuple[FindingFact, ...]
    total_findings: int

    def by_id(self) -> dict[str, FindingFact]:
        return {f.id: f for f in self.findings}

    def payload(self) -> dict[str, Any]:
        return {
            "data_date": self.data_date.isoformat(),
            "properties": list(self.properties),
            "findings_total": self.total_findings,
            "findings_listed": len(self.findings),
            "findings": [f.payload() for f in self.findings],
        }


def _unit(metric: str) -> tuple[str, float]:
    if metric in RATE_METRICS:
        return "percent", 100.0
    if metric == "position":
        return "position", 1.0
    return "count", 1.0


#: Factors that are rates of a product, shown in percent like CTR.
_PERCENT_FACTORS = frozenset({"ctr", "conversion rate"})
_COUNT_FACTORS = frozenset({"sessions", "impressions"})


def _factor_unit(name: str) -> tuple[str, float]:
    if name in _PERCENT_FACTORS:
        return "percent", 100.0
    return ("count", 1.0) if name in _COUNT_FACTORS else ("value", 1.0)


def _decomposition(d: Decomposition) -> DecompositionFact:
    factors = []
    for f in d.ranked:
        unit, scale = _factor_unit(f.name)
        factors.append(FactorFact(metric_label(f.name), unit, f.observed * scale, f.expected * scale))
    return DecompositionFact(metric_label(d.metric), d.observed, d.expected, tuple(factors))


def _fact(index: int, finding: Finding, *, max_contributors: int) -> FindingFact:
    a = finding.anomaly
    unit, scale = _unit(a.metric)
    dimension, name = split_series(a.series)
    contributors = []
    for c in finding.contributors[:max_contributors]:
        c_dimension, c_name = split_series(c.series)
        contributors.append(ContributorFact(c_dimension, c_name, c.observed * scale, c.expected * scale, c.share))
    return FindingFact(
        id=f"F{index}",
        property=_clean(a.property),
        metric=a.metric,
        metric_label=metric_label(a.metric),
        dimension=dimension,
        name=name if a.series != TOTAL_SERIES else series_label(a.series),
        kind=a.kind.value,
        direction=a.direction.value,
        severity=finding.severity.value,
        day=a.day,
        unit=unit,
        actual=a.observed * scale,
        expected=a.expected * scale,
        lower=a.lower * scale,
        upper=a.upper * scale,
        contributors=tuple(contributors),
        decomposition=None if finding.drivers is None else _decomposition(finding.drivers),
    )


def build_sheet(
    findings: Sequence[Finding],
    *,
    data_date: date,
    properties: Sequence[str] = (),
    max_findings: int,
    max_contributors: int,
) -> FactSheet:
    """The first ``max_findings`` findings (already ranked) with up to ``max_contributors`` each."""
    shown = findings[:max_findings]
    props = tuple(properties) or tuple(dict.fromkeys(f.anomaly.property for f in findings))
    return FactSheet(
        data_date=data_date,
        properties=tuple(_clean(p) for p in props),
        findings=tuple(_fact(i, f, max_contributors=max_contributors) for i, f in enumerate(shown, start=1)),
        total_findings=len(findings),
    )
