"""The deterministic summary: every number comes straight from the findings.

It is the default summariser and the fallback whenever a language model is not
configured, fails, or writes something that cannot be verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from jobs.domain import TOTAL_SERIES, Finding, Kind
from jobs.naming import metric_label, series_label
from jobs.ports import Summary

__all__ = ["TemplateSummariser", "describe_change", "describe_drivers", "headline"]

_KIND_WORDS = {
    Kind.OUTAGE: "collapsed to near zero (possible tracking break)",
    Kind.LEVEL_SHIFT: "shifted to a new level",
}


def _pct(change: float) -> str:
    if change == float("inf"):
        return "up from zero"
    return f"{'up' if change >= 0 else 'down'} {abs(change) * 100:.0f}%"


def _number(value: float, metric: str = "") -> str:
    if metric == "ctr":  # a proportion, shown as a percentage
        return f"{value * 100:.2f}%"
    if metric == "position":
        return f"{value:.1f}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def describe_change(finding: Finding) -> str:
    """One sentence: what moved, by how much, against what was expected."""
    a = finding.anomaly
    where = "" if a.series == TOTAL_SERIES else f" for {series_label(a.series)}"
    on = f" on {a.property}" if a.series == TOTAL_SERIES else f" on {a.property}{where}"
    what = f"{metric_label(a.metric).capitalize()}{on}"
    how = _KIND_WORDS.get(a.kind, _pct(a.change))
    return (
        f"{what} {how}: {_number(a.observed, a.metric)} against an expected {_number(a.expected, a.metric)} "
        f"(usual range {_number(a.lower, a.metric)}–{_number(a.upper, a.metric)}) on {a.day.isoformat()}."
    )


def describe_drivers(finding: Finding) -> str | None:
    """Which factor of a product metric drove the change, e.g. ``"Clicks down 30%:
    impressions -5%, CTR -26% (the CTR drove it)."``; None for other metrics."""
    d = finding.decomposition
    if d is None:
        return None

    def signed(change: float) -> str:
        return "new" if change == float("inf") else f"{change * 100:+.0f}%"

    parts = ", ".join(f"{metric_label(f.name)} {signed(f.change)}" for f in d.factors)
    return (
        f"{metric_label(d.metric).capitalize()} {_pct(d.change)}: {parts} (the {metric_label(d.driver.name)} drove it)."
    )


def headline(findings: Sequence[Finding], *, properties: Sequence[str], data_date: date) -> str:
    where = ", ".join(properties) or "your properties"
    if not findings:
        return f"All quiet on {where} for {data_date.isoformat()}"
    top = ", ".join(
        f"{metric_label(f.anomaly.metric)} {_pct(f.anomaly.change)}"
        for f in findings[:3]
        if f.anomaly.series == TOTAL_SERIES
    )
    count = f"{len(findings)} change{'s' if len(findings) != 1 else ''} on {where}"
    return f"{count}: {top}" if top else count


class TemplateSummariser:
    """Builds the summary from templates; never fails, never invents a number."""

    name = "template"

    def __init__(self, *, properties: Sequence[str] = ()) -> None:
        self._properties = tuple(properties)

    def summarise(self, findings: Sequence[Finding], *, data_date: date) -> Summary:
        properties = self._properties or tuple(dict.fromkeys(f.anomaly.property for f in findings))
        if not findings:
            text = f"Nothing unusual was found in the data for {data_date.isoformat()}."
            return Summary(headline(findings, properties=properties, data_date=data_date), text, self.name)
        lines = [describe_change(f) for f in findings[:5]]
        lead = findings[0]
        if lead.contributors:
            drivers = ", ".join(
                f"{series_label(c.series)} ({c.share * 100:.0f}% of the change)" for c in lead.contributors[:3]
            )
            lines.append(f"Most of the change in {metric_label(lead.anomaly.metric)} came from {drivers}.")
        drove = describe_drivers(lead)
        if drove:
            lines.append(drove)
        if len(findings) > 5:
            lines.append(f"{len(findings) - 5} more change(s) are listed below.")
        return Summary(headline(findings, properties=properties, data_date=data_date), " ".join(lines), self.name)
