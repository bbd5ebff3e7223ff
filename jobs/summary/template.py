"""The deterministic summary: every number comes straight from the findings.

It is the default summariser and the fallback whenever a language model is not
configured, fails, or writes something that cannot be verified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from urllib.parse import urlsplit

from jobs.domain import RATE_METRICS, TOTAL_SERIES, Direction, Factor, Finding, Kind
from jobs.naming import metric_label, series_label
from jobs.ports import Summary

__all__ = ["TemplateSummariser", "describe_change", "describe_drivers", "headline", "short_change"]

_KIND_WORDS = {
    Kind.OUTAGE: "collapsed to near zero (possible tracking break)",
    Kind.LEVEL_SHIFT: "shifted to a new level",
}


def _pct(change: float) -> str:
    if change == float("inf"):
        return "up from zero"
    return f"{'up' if change >= 0 else 'down'} {abs(change) * 100:.0f}%"


def _number(value: float, metric: str = "") -> str:
    if metric in RATE_METRICS:  # a proportion, shown as a percentage
        return f"{value * 100:.2f}%"
    if metric == "position":
        return f"{value:.1f}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]  # not str.capitalize: "CTR" stays "CTR"


def describe_change(finding: Finding) -> str:
    """One sentence: what moved, by how much, against what was expected."""
    a = finding.anomaly
    where = "" if a.series == TOTAL_SERIES else f" for {series_label(a.series)}"
    on = f" on {a.property}" if a.series == TOTAL_SERIES else f" on {a.property}{where}"
    what = f"{_first_upper(metric_label(a.metric))}{on}"
    how = _KIND_WORDS.get(a.kind, _pct(a.change))
    return (
        f"{what} {how}: {_number(a.observed, a.metric)} against an expected {_number(a.expected, a.metric)} "
        f"(usual range {_number(a.lower, a.metric)}–{_number(a.upper, a.metric)}) on {a.day.isoformat()}."
    )


def describe_drivers(finding: Finding) -> str | None:
    """Which factor of a product metric drove the change, the driver first: ``"Clicks down
    57%, driven by CTR (down 54%); impressions down 6%."`` on a CTR finding, ``"Driven by CTR
    (down 54%); impressions down 6%."`` on a clicks finding; None without one to tell
    (see :attr:`jobs.domain.Finding.drivers`)."""
    d = finding.drivers
    if d is None:
        return None
    a = finding.anomaly

    def change(f: Factor) -> str:  # the finding's own metric reads as in its own sentence
        return _pct(a.change if f.name == a.metric else f.change)

    driver, *others = d.ranked
    rest = "".join(f"; {metric_label(f.name)} {change(f)}" for f in others)
    driven = f"driven by {metric_label(driver.name)} ({change(driver)}){rest}."
    if d.metric == a.metric:  # the sentence before already says how the product moved
        return _first_upper(driven)
    return f"{_first_upper(metric_label(d.metric))} {_pct(d.change)}, {driven}"


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


def _round(value: float, metric: str) -> str:
    """About-so-many: two significant digits from 1,000 (``4,100``), as people say them."""
    if metric in RATE_METRICS or metric == "position":
        return _number(value, metric)
    if abs(value) >= 1000:
        digits = math.floor(math.log10(abs(value))) - 1
        return f"{round(value, -digits):,.0f}"
    return f"{value:,.0f}"


def _place(series: str) -> str:
    """``series_label``, with a page's full URL shortened to its path (``/guides/sizing``)."""
    label = series_label(series)
    dimension, _, value = series.partition(":")
    if dimension in ("page", "landingPage", "pagePath") and "://" in value:
        path = urlsplit(value).path or "/"
        return label.replace(value, path)
    return label


def short_change(finding: Finding) -> str:
    """One short clause in plain words: ``"key events tracking stopped on shop (0 instead of
    about 46)"``, ``"sessions fell 39% on shop (720 instead of about 1,200)"``."""
    a = finding.anomaly
    where = "" if a.series == TOTAL_SERIES else f" for {_place(a.series)}"
    metric = metric_label(a.metric)
    numbers = f"{_number(a.observed, a.metric)} instead of about {_round(a.expected, a.metric)}"
    if a.kind is Kind.OUTAGE:
        what = f"{metric} tracking stopped" if not where else f"{metric}{where} collapsed"
    elif math.isinf(a.change):
        what = f"{metric}{where} appeared"
    elif a.metric in RATE_METRICS or a.metric == "position" or max(abs(a.observed), abs(a.expected)) < 30:
        verb = "fell" if a.direction is Direction.DOWN else "rose"
        what = f"{metric}{where} {verb}"
    else:
        verb = "fell" if a.direction is Direction.DOWN else "rose"
        what = f"{metric}{where} {verb} {abs(a.change) * 100:.0f}%"
    return f"{what} on {a.property} ({numbers})"


class TemplateSummariser:
    """Builds the summary from templates; never fails, never invents a number.

    The text is a lead of at most three short sentences: how many changes, the biggest one,
    and the next one (the digest lists them all below)."""

    name = "template"

    def __init__(self, *, properties: Sequence[str] = ()) -> None:
        self._properties = tuple(properties)

    def summarise(self, findings: Sequence[Finding], *, data_date: date) -> Summary:
        properties = self._properties or tuple(dict.fromkeys(f.anomaly.property for f in findings))
        if not findings:
            text = f"Nothing unusual was found in the data for {data_date.isoformat()}."
            return Summary(headline(findings, properties=properties, data_date=data_date), text, self.name)
        n = len(findings)
        where = ", ".join(properties) or "your properties"
        lines = [f"{n} change{'s' if n != 1 else ''} on {where}."]
        top = short_change(findings[0])
        lines.append(f"The biggest: {top}." if n > 1 else f"{_first_upper(top)}.")
        if n > 1:
            lines.append(f"{'Next' if n > 2 else 'Also'}: {short_change(findings[1])}.")
        return Summary(headline(findings, properties=properties, data_date=data_date), " ".join(lines), self.name)
