"""The numbers, dates and names a summary may use, derived from a fact sheet.

:class:`Allowed` lists, for a set of cited facts, every value a faithful sentence could
contain: the values themselves, the differences and ratios between actual and expected,
the percentages (changes, shares, percent-of-expected, CTR values) tagged with the
direction they describe, and the dates; the same for a finding's decomposition (the
product metric and each factor). :func:`known_names` lists every name a summary
may mention (properties, pages, queries, channels, metric labels).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from jobs.summary.facts import ContributorFact, FactSheet, FindingFact

__all__ = [
    "Allowed",
    "allowed_for",
    "fold",
    "invisible_removed",
    "known_names",
    "known_paths",
    "normalise",
    "sheet_names",
]

_DASHES = {0x2010: "-", 0x2011: "-", 0x2012: "-", 0x2013: "-", 0x2014: "-", 0x2212: "-", 0xFE63: "-"}


def invisible_removed(text: str) -> str:
    """``text`` without format characters (zero-width spaces, bidi overrides, soft hyphens).

    They render as nothing or reorder what is shown, so "9<ZWSP>8%" reads as 98% but would
    be checked as 9 and 8%: they are removed from the summary before it is checked and sent.
    """
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalise(text: str) -> str:
    """NFKC (fullwidth and superscript digits become ASCII), dashes as ``-``, spaces as `` ``."""
    flat = unicodedata.normalize("NFKC", invisible_removed(text)).translate(_DASHES)
    return "".join(" " if ch.isspace() else ch for ch in flat)


def fold(text: str) -> str:
    """A name as compared: normalised, case-folded, whitespace collapsed."""
    return " ".join(normalise(text).casefold().split())


@dataclass
class Allowed:
    """What a text citing some facts may state. Percent and ratio entries carry a direction tag."""

    values: list[float] = field(default_factory=list)
    percents: list[tuple[float, str]] = field(default_factory=list)  # (value, "up" | "down" | "other")
    points: list[float] = field(default_factory=list)
    ratios: list[tuple[float, str]] = field(default_factory=list)  # (>= 1, "up" | "down")
    counts: set[int] = field(default_factory=set)
    dates: set[date] = field(default_factory=set)
    #: Some cited value collapsed to (near) zero: "zero" may be said.
    near_zero: bool = False
    #: Some cited metric is an amount of money (revenue): currency signs may be used.
    money: bool = False

    @property
    def years(self) -> set[int]:
        return {d.year for d in self.dates}


def _direction(actual: float, expected: float) -> str:
    return "up" if actual > expected else "down"


def _add_pair(allowed: Allowed, actual: float, expected: float, *, percent_unit: bool) -> None:
    """A value next to its expectation: both, their difference, their ratio, the change."""
    diff = abs(actual - expected)
    if percent_unit:  # CTR in percent: the values are percentages, differences are points
        allowed.percents += [(actual, "other"), (expected, "other")]
        allowed.points.append(diff)
    allowed.values += [actual, expected, diff]
    if actual == 0 or expected == 0 or (expected > 0 and actual / expected <= 0.05):
        allowed.near_zero = True
    direction = _direction(actual, expected)
    if expected != 0:
        allowed.percents.append((abs(actual - expected) / abs(expected) * 100, direction))
        allowed.percents.append((actual / expected * 100, "other"))  # "59% of the usual level"
    low, high = sorted((abs(actual), abs(expected)))
    if low > 0:
        allowed.ratios.append((high / low, direction))


def _add_contributor(allowed: Allowed, c: ContributorFact, *, percent_unit: bool) -> None:
    _add_pair(allowed, c.actual, c.expected, percent_unit=percent_unit)
    allowed.percents.append((c.share * 100, "other"))


def _add_finding(allowed: Allowed, f: FindingFact) -> None:
    percent_unit = f.unit == "percent"
    _add_pair(allowed, f.actual, f.expected, percent_unit=percent_unit)
    bounds = [f.lower, f.upper]
    if percent_unit:
        allowed.percents += [(b, "other") for b in bounds]
    allowed.values += bounds
    for c in f.contributors:
        _add_contributor(allowed, c, percent_unit=percent_unit)
    if f.decomposition is not None:  # "clicks fell 57%, driven by CTR (down 54%)"
        d = f.decomposition
        _add_pair(allowed, d.actual, d.expected, percent_unit=False)
        for factor in d.factors:
            _add_pair(allowed, factor.actual, factor.expected, percent_unit=factor.unit == "percent")
    allowed.money = allowed.money or "revenue" in f.metric.lower()
    allowed.counts.add(len(f.contributors))
    allowed.dates.add(f.day)


def allowed_for(sheet: FactSheet, cited: Collection[str]) -> Allowed:
    """Everything a text citing ``cited`` may state (plus the sheet's own date and counts)."""
    allowed = Allowed()
    allowed.dates.add(sheet.data_date)
    allowed.counts.update({sheet.total_findings, len(sheet.findings), len(sheet.properties), len(cited)})
    by_id = sheet.by_id()
    for fact_id in cited:
        if fact_id in by_id:
            _add_finding(allowed, by_id[fact_id])
    allowed.counts.discard(0)
    return allowed


def _names_of(f: FindingFact) -> Iterable[str]:
    yield f.property
    yield f.metric
    yield f.metric_label
    yield f.name
    yield f"{f.dimension} {f.name}"
    for c in f.contributors:
        yield c.name
        yield f"{c.dimension} {c.name}"
    if f.decomposition is not None:
        yield f.decomposition.metric_label
        yield from (factor.name for factor in f.decomposition.factors)


def sheet_names(sheet: FactSheet) -> frozenset[str]:
    """Every name the sheet holds, normalised (see :func:`normalise`) but not folded."""
    names: set[str] = {"all traffic", *sheet.properties}
    for f in sheet.findings:
        names.update(_names_of(f))
    return frozenset(normalise(n).strip() for n in names if n.strip())


def known_names(sheet: FactSheet) -> frozenset[str]:
    """Every name the sheet holds, folded (see :func:`fold`)."""
    return frozenset(fold(n) for n in sheet_names(sheet))


def known_paths(sheet: FactSheet) -> frozenset[str]:
    """The page paths the sheet names (case kept), including the path of every full URL."""
    paths: set[str] = set()
    for name in sheet_names(sheet):
        if name.startswith("/"):
            paths.add(name.rstrip("/") or "/")
        elif name.startswith(("http://", "https://")):
            paths.add(urlsplit(name).path.rstrip("/") or "/")
    return frozenset(paths)
