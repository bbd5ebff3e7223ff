"""JSON encoding of the parts of a finding that are not columns (contributors, chart,
ratio decomposition)."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from jobs.domain import ChartData, Contributor, Decomposition, Factor

__all__ = ["decode_decomposition", "decode_detail", "encode_detail"]


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 6)


def _exact(value: float) -> float | None:
    """A decomposition's values unrounded: a conversion rate of 0.0001234 keeps its digits, and
    a factor that is the finding's own metric reads back equal to the finding's columns."""
    return float(value) if math.isfinite(value) else None


def _unnum(value: float | None) -> float:
    return math.nan if value is None else float(value)


def encode_detail(
    contributors: tuple[Contributor, ...], chart: ChartData | None, decomposition: Decomposition | None = None
) -> str:
    payload: dict[str, Any] = {
        "contributors": [[c.series, _num(c.observed), _num(c.expected), _num(c.share)] for c in contributors]
    }
    if decomposition is not None:
        d = decomposition
        payload["decomposition"] = {
            "metric": d.metric,
            "observed": _exact(d.observed),
            "expected": _exact(d.expected),
            "factors": [[f.name, _exact(f.observed), _exact(f.expected)] for f in d.factors],
        }
    if chart is not None:
        payload["chart"] = {
            "start": chart.dates[0].isoformat() if chart.dates else None,
            "dates": [d.isoformat() for d in chart.dates],
            "actual": [_num(v) for v in chart.actual],
            "expected": [_num(v) for v in chart.expected],
            "lower": [_num(v) for v in chart.lower],
            "upper": [_num(v) for v in chart.upper],
        }
    return json.dumps(payload, separators=(",", ":"))


def decode_decomposition(text: str) -> Decomposition | None:
    raw = json.loads(text or "{}").get("decomposition")
    if not raw:
        return None
    factors = tuple(Factor(name, _unnum(o), _unnum(e)) for name, o, e in raw["factors"])
    return Decomposition(raw["metric"], _unnum(raw["observed"]), _unnum(raw["expected"]), factors)


def decode_detail(text: str) -> tuple[tuple[Contributor, ...], ChartData | None]:
    payload = json.loads(text or "{}")
    contributors = tuple(
        Contributor(series=s, observed=_unnum(o), expected=_unnum(e), share=_unnum(sh))
        for s, o, e, sh in payload.get("contributors", [])
    )
    raw = payload.get("chart")
    chart = None
    if raw:
        chart = ChartData(
            dates=tuple(date.fromisoformat(d) for d in raw["dates"]),
            actual=tuple(_unnum(v) for v in raw["actual"]),
            expected=tuple(_unnum(v) for v in raw["expected"]),
            lower=tuple(_unnum(v) for v in raw["lower"]),
            upper=tuple(_unnum(v) for v in raw["upper"]),
        )
    return contributors, chart
