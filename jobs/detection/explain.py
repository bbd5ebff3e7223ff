"""How a finding explains itself: severity, contributing children, chart, JSON.

Severity rule (deterministic, from kind, size and level):

============================  ==========================================
OUTAGE                        CRITICAL on a top-level series, else HIGH
top-level series, down        HIGH when ``|change| >= 30%``, else MEDIUM
top-level series, up          MEDIUM when ``|change| >= 30%``, else LOW
child, level shift down       HIGH when ``|change| >= 80%`` (a page gone)
child, otherwise              MEDIUM when ``|change| >= 50%``, else LOW
============================  ==========================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np

from jobs.domain import ChartData, Contributor, Decomposition, Direction, Finding, FloatArray, Kind, Severity
from jobs.naming import neutralise_bidi

__all__ = [
    "contributors",
    "finding_sort_key",
    "finding_to_json",
    "make_chart",
    "severity",
]

#: How many contributing children a finding lists per dimension.
TOP_CONTRIBUTORS = 5


def severity(kind: Kind, change: float, *, direction: Direction, top_level: bool) -> Severity:
    """The severity of a finding; see the module docstring for the table."""
    size = abs(change)
    if kind is Kind.OUTAGE:
        return Severity.CRITICAL if top_level else Severity.HIGH
    if top_level:
        if direction is Direction.DOWN:
            return Severity.HIGH if size >= 0.30 else Severity.MEDIUM
        return Severity.MEDIUM if size >= 0.30 else Severity.LOW
    if kind is Kind.LEVEL_SHIFT and direction is Direction.DOWN and size >= 0.80:
        return Severity.HIGH
    return Severity.MEDIUM if size >= 0.50 else Severity.LOW


def contributors(
    names: Sequence[str],
    observed: FloatArray,
    expected: FloatArray,
    dimensions: Sequence[Sequence[int]],
    *,
    change: float,
) -> tuple[Contributor, ...]:
    """The children of each dimension that moved with the parent, ranked by share of the move.

    ``dimensions`` lists, per dimension, the row indices of its children, the dimension
    that best explains the change first. A child's share
    is its ``observed - expected`` over the sum of those of the children moving the same
    way as the parent (``change``), so the shares in one dimension sum to 1; the top
    :data:`TOP_CONTRIBUTORS` of each dimension are returned, dimension by dimension.
    """
    out: list[Contributor] = []
    sign = 1.0 if change >= 0 else -1.0
    for rows in dimensions:
        idx = np.asarray(rows, dtype=np.int64)
        delta = np.nan_to_num(observed[idx] - expected[idx])
        same = sign * delta > 0
        total = float(np.sum(delta[same]))
        if not same.any() or total == 0.0:
            continue
        share = np.where(same, delta / total, 0.0)
        for pos in np.argsort(-share, kind="stable")[:TOP_CONTRIBUTORS]:
            if share[pos] <= 0:
                break
            i = int(idx[pos])
            out.append(Contributor(names[i], float(observed[i]), float(expected[i]), float(share[pos])))
    return tuple(out)


def make_chart(
    dates: Sequence[date], actual: FloatArray, expected: FloatArray, lower: FloatArray, upper: FloatArray
) -> ChartData:
    """Chart values as plain tuples (NaN where there was no data or no baseline yet)."""

    def floats(a: FloatArray) -> tuple[float, ...]:
        return tuple(float(x) for x in a)

    return ChartData(tuple(dates), floats(actual), floats(expected), floats(lower), floats(upper))


def finding_sort_key(f: Finding) -> tuple[int, float]:
    """Severity first, then the absolute size of the deviation, both descending."""
    a = f.anomaly
    return (-f.severity.rank, -abs(a.observed - a.expected))


def _num(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _decomposition_json(d: Decomposition) -> dict[str, object]:
    return {
        "metric": d.metric,
        "change": _num(d.change),
        "factors": {f.name: _num(f.change) for f in d.factors},
        "driver": d.driver.name,
    }


def finding_to_json(f: Finding) -> dict[str, object]:
    """The detect-output object (DESIGN "Detect output"), plus ``property`` and ``severity``.

    Keys: property, series, metric, date (ISO), direction, value, expected, lower, upper,
    p_value, q_value (children only), kind, severity, and ``decomposition`` when the metric
    is a product or a factor of one (``{"metric": "clicks", "change": -0.3, "factors":
    {"impressions": -0.05, "ctr": -0.26}, "driver": "ctr"}``). Non-finite numbers become null.
    """
    a = f.anomaly
    out: dict[str, object] = {
        "property": neutralise_bidi(a.property),
        "series": neutralise_bidi(a.series),  # shown to people: bidi controls made visible
        "metric": a.metric,
        "date": a.day.isoformat(),
        "direction": a.direction.value,
        "value": _num(a.observed),
        "expected": _num(a.expected),
        "lower": _num(a.lower),
        "upper": _num(a.upper),
        "p_value": _num(a.p_value),
    }
    if a.q_value is not None:
        out["q_value"] = _num(a.q_value)
    out["kind"] = a.kind.value
    out["severity"] = f.severity.value
    if f.decomposition is not None:
        out["decomposition"] = _decomposition_json(f.decomposition)
    return out
