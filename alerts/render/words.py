"""A finding in the words a marketing reader uses (raw text: escape per channel).

* ``Sessions fell 39%`` / ``Key events tracking stopped`` / ``Impressions on /guides/sizing
  collapsed``: the title, the kind told in words, no ids and no "Series:" labels;
* ``expected about 1,200, got 720``: the numbers, rounded the way people say them; counts
  too small for a percentage to mean anything are told as counts (``2 clicks instead of
  about 9``), never as ``+261%``;
* which factor drove a product metric, only when the product moved, and never a rate of
  a handful of impressions;
* contributors only when a few of them explain most of the change.
"""

from __future__ import annotations

import math
from datetime import date
from urllib.parse import urlsplit

from alerts.render import clean, pretty_metric
from jobs.domain import COUNT_METRICS, RATE_METRICS, TOTAL_SERIES, Anomaly, Contributor, Direction, Finding, Kind

__all__ = [
    "MEANINGFUL_SHARE",
    "TINY_COUNT",
    "about",
    "contributor_lines",
    "driver_line",
    "is_tiny",
    "kind_words",
    "numbers_line",
    "place",
    "short_phrase",
    "silenced_metrics",
    "title",
]

#: Below this many (expected and observed), a count's change is told as counts, not percent.
TINY_COUNT = 30
#: A contributor is named when it explains at least this share of the change...
MEANINGFUL_SHARE = 0.15
#: ...and the named ones together explain at least this much.
EXPLAINED_SHARE = 0.5

_PLACES = {
    "landingPage": "landing page",
    "landingPagePlusQueryString": "landing page",
    "pagePath": "page",
    "page": "page",
    "country": "country",
    "device": "device",
    "deviceCategory": "device",
    "sessionSource": "source",
    "sessionMedium": "medium",
    "sessionSourceMedium": "source / medium",
    "sessionCampaignName": "campaign",
}
#: Count nouns for "2 clicks instead of about 9".
_NOUNS = {"keyEvents": "key events", "totalUsers": "users", "screenPageViews": "page views"}


def _month_day(d: date) -> str:
    return f"{d:%b} {d.day}"


def place(series: str) -> str:
    """``"the Organic Search channel"``, ``"/guides/sizing"`` (a page without its host),
    ``"the query “shoe size guide”"``; ``""`` for a total."""
    if series == TOTAL_SERIES:
        return ""
    dimension, sep, value = series.partition(":")
    if not sep:
        return clean(series, limit=120)
    if dimension == "sessionDefaultChannelGroup":
        return clean(f"the {value} channel", limit=120)
    if dimension == "query":
        return clean(f"the query “{value}”", limit=120)
    if dimension in ("page", "landingPage", "landingPagePlusQueryString", "pagePath"):
        parts = urlsplit(value)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "") if parts.netloc else value
        return "the home page" if path == "/" else clean(path, limit=120)
    label = _PLACES.get(dimension, dimension)
    return clean(f"{label} {value}", limit=120)


def is_tiny(anomaly: Anomaly) -> bool:
    """A count whose numbers are too small for a percentage (2 clicks of an expected 9)."""
    if anomaly.metric in RATE_METRICS or anomaly.metric == "position":
        return False
    return max(abs(anomaly.observed), abs(anomaly.expected)) < TINY_COUNT


def about(metric: str, value: float) -> str:
    """A value as said aloud: ``"4,100"`` (two significant digits from 1,000), ``"46"``,
    ``"2.1%"`` for a rate, ``"6.2"`` for a position."""
    if math.isnan(value):
        return "n/a"
    if metric in RATE_METRICS:
        pct = value * 100
        return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"
    if metric == "position":
        return f"{value:.1f}"
    if abs(value) >= 1000:
        digits = math.floor(math.log10(abs(value))) - 1
        return f"{round(value, -digits):,.0f}"
    return f"{value:,.0f}"


def _exact(metric: str, value: float) -> str:
    if metric in RATE_METRICS and math.isfinite(value):
        return f"{value * 100:.2f}%"
    if metric == "position" or math.isnan(value):
        return about(metric, value)
    return f"{value:,.0f}"


def _pct(change: float) -> str:
    return f"{abs(change) * 100:.0f}%"


def _level_since(finding: Finding) -> str:
    """`` since Nov 20``: the first day of the run of days outside the band that ends on the
    finding's day (from its chart), or ``""`` when the chart cannot tell."""
    chart = finding.chart
    if chart is None or not chart.dates:
        return ""
    down = finding.anomaly.direction is Direction.DOWN
    start = None
    for i in range(len(chart.dates) - 1, -1, -1):
        actual = chart.actual[i]
        outside = actual < chart.lower[i] if down else actual > chart.upper[i]
        if not (math.isfinite(actual) and outside):
            break
        start = chart.dates[i]
    return f" since {_month_day(start)}" if start is not None and start < finding.anomaly.day else ""


def kind_words(finding: Finding) -> str:
    """The kind, in words: ``sudden drop``, ``new lower level since Nov 20``, ``tracking stopped``."""
    a = finding.anomaly
    down = a.direction is Direction.DOWN
    if a.kind is Kind.OUTAGE:
        return "tracking stopped" if a.series == TOTAL_SERIES else "collapsed to almost nothing"
    if a.kind is Kind.LEVEL_SHIFT:
        return f"new {'lower' if down else 'higher'} level{_level_since(finding)}"
    if a.kind is Kind.RATE_CHANGE:
        return "rate fell" if down else "rate rose"
    if a.kind is Kind.SPIKE:
        return "sudden rise"
    if a.kind is Kind.DROP:
        return "sudden drop"
    return a.kind.value.replace("_", " ")


def _moved(a: Anomaly) -> str:
    if a.metric == "position":  # a larger position is worse
        return "worsened" if a.direction is Direction.UP else "improved"
    if math.isinf(a.change):
        return "appeared (up from zero)"
    verb = "fell" if a.direction is Direction.DOWN else "rose"
    return verb if is_tiny(a) or a.metric in RATE_METRICS else f"{verb} {_pct(a.change)}"


def title(finding: Finding) -> str:
    """``"Sessions fell 39%"``, ``"Key events tracking stopped"``, ``"Impressions on
    /guides/sizing collapsed"``, ``"Clicks on the query “x” fell"`` (tiny counts: no percent)."""
    a = finding.anomaly
    metric = pretty_metric(a.metric)
    where = place(a.series)
    on = f" on {where}" if where else ""
    if a.kind is Kind.OUTAGE:
        text = f"{metric} tracking stopped" if not where else f"{metric}{on} collapsed"
    else:
        text = f"{metric}{on} {_moved(a)}"
    return clean(text[:1].upper() + text[1:], limit=200)


def short_phrase(finding: Finding) -> str:
    """The title, lower-cased at the start, for subjects: ``"sessions fell 39%"``."""
    text = title(finding)
    return text if text[:3].isupper() else text[:1].lower() + text[1:]


def numbers_line(finding: Finding) -> str:
    """``"expected about 1,200, got 720"``; tiny counts ``"2 clicks instead of about 9"``;
    positions say lower is better."""
    a = finding.anomaly
    if is_tiny(a):
        noun = _NOUNS.get(a.metric, pretty_metric(a.metric))
        return f"{_exact(a.metric, a.observed)} {noun} instead of about {about(a.metric, a.expected)}"
    line = f"expected about {about(a.metric, a.expected)}, got {_exact(a.metric, a.observed)}"
    return line + (" (lower is better)" if a.metric == "position" else "")


def driver_line(finding: Finding) -> str:
    """``"Because of fewer impressions (13 instead of about 6,100)"``: the factor that drove a
    product metric, when the product moved at least 10% and the factor is not a rate of a
    handful of events; ``""`` otherwise."""
    d = finding.drivers
    if d is None or not math.isfinite(d.change) or abs(d.change) < 0.10 or finding.anomaly.kind is Kind.OUTAGE:
        return ""  # (a tracking break names what it silenced instead)
    driver = d.driver
    volume = d.factors[0] if d.factors else None
    rate = driver.name not in COUNT_METRICS
    if rate and volume is not None and volume.observed < 100:
        return ""  # a rate of a handful of impressions or sessions says nothing
    fewer = driver.observed < driver.expected
    name = pretty_metric(driver.name)
    what = f"a {'lower' if fewer else 'higher'} {name}" if rate else f"{'fewer' if fewer else 'more'} {name}"
    numbers = ""
    if driver.name in RATE_METRICS or not rate:
        numbers = f" ({_exact(driver.name, driver.observed)} instead of about {about(driver.name, driver.expected)})"
    if d.metric == finding.anomaly.metric:
        return clean(f"Because of {what}{numbers}", limit=300)
    product = pretty_metric(d.metric)
    verb = "fell" if d.change < 0 else "rose"
    return clean(f"{product[:1].upper()}{product[1:]} {verb} {_pct(d.change)} because of {what}{numbers}", limit=300)


def contributor_lines(finding: Finding, *, limit: int = 3) -> tuple[str, ...]:
    """``"the Organic Search channel: 179 instead of about 550 (78% of the change)"`` for the
    few contributors that explain most of the change; none when they do not, and none under
    a tracking break (every child reads zero: :func:`silenced_metrics` says it instead)."""
    a = finding.anomaly
    if a.kind is Kind.OUTAGE:
        return ()
    top = finding.contributors[0].series.partition(":")[0] if finding.contributors else ""
    same = [c for c in finding.contributors if c.series.partition(":")[0] == top]  # shares add up per dimension
    named: list[Contributor] = [c for c in same if c.share >= MEANINGFUL_SHARE][:limit]
    if not named or sum(c.share for c in named) < EXPLAINED_SHARE:
        return ()
    return tuple(
        clean(
            f"{place(c.series)}: {_exact(a.metric, c.observed)} instead of about {about(a.metric, c.expected)}"
            f" ({c.share * 100:.0f}% of the change)",
            limit=300,
        )
        for c in named
    )


def silenced_metrics(lead: Finding, others: tuple[Finding, ...]) -> tuple[str, ...]:
    """The metrics a tracking break silenced: its own, the rate that drove it to zero, and
    those of the findings it explains, each once (``("key events", "conversion rate")``)."""
    names = [lead.anomaly.metric]
    d = lead.drivers
    if d is not None and d.driver.observed == 0:
        names.append(d.driver.name)
    names += [f.anomaly.metric for f in others if f.anomaly.direction is Direction.DOWN]
    return tuple(dict.fromkeys(pretty_metric(n) for n in names))
