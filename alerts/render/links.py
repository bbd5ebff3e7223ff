"""Where a message's links go: the evidence in Google's own reports, and barometer's pages.

Deep links (the shapes Google's web apps use; Google publishes no formal contract for them,
so each is pinned by a test of its exact shape):

* Google Analytics 4, the report explorer filtered to the series' dimension value::

    https://analytics.google.com/analytics/web/#/p{ID}/reports/explorer
        ?params=_u.date00%3D{YYYYMMDD}%26_u.date01%3D{YYYYMMDD}[%26_r..dataFilters%3D{JSON}]&r={report}

* Search Console, the performance report filtered to a page or query (``!`` is "exactly")::

    https://search.google.com/search-console/performance/search-analytics
        ?resource_id={site}&start_date={YYYYMMDD}&end_date={YYYYMMDD}[&page=!{url}|&query=!{text}]

barometer's own links (only when ``web.public_url`` is set): signed, expiring feedback
links ``{public_url}/feedback/{token}``, chart images ``{public_url}/charts/{token}.png``
and the full list of a digest ``{public_url}/digests/{id}/all?t={token}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import quote, urlencode

from alerts.signing import Signer
from jobs.domain import TOTAL_SERIES, Finding

__all__ = ["FEEDBACK_LABELS", "Links", "ReportLink", "ga4_url", "gsc_url"]

#: The feedback a message offers per finding: (label recorded, button text).
FEEDBACK_LABELS: tuple[tuple[str, str], ...] = (
    ("expected", "Expected"),
    ("false_alarm", "False alarm"),
    ("confirmed", "Useful"),
)
#: How many days before the finding's day the report links start (the chart's span).
REPORT_DAYS = 28

_GA4_REPORTS = {
    "sessionDefaultChannelGroup": "lifecycle-traffic-acquisition-v2",
    "sessionSource": "lifecycle-traffic-acquisition-v2",
    "sessionMedium": "lifecycle-traffic-acquisition-v2",
    "sessionSourceMedium": "lifecycle-traffic-acquisition-v2",
    "sessionCampaignName": "lifecycle-traffic-acquisition-v2",
    "landingPage": "landing-page",
    "landingPagePlusQueryString": "landing-page",
    "pagePath": "all-pages-and-screens",
}


def _day(d: date) -> str:
    return d.strftime("%Y%m%d")


def ga4_url(property_id: str, *, series: str, start: date, end: date) -> str:
    """The GA4 report for ``series`` (``total`` or ``dimension:value``) over ``start``..``end``."""
    number = property_id.rpartition("/")[2]
    params = f"_u.date00={_day(start)}&_u.date01={_day(end)}"
    report = "lifecycle-traffic-acquisition-v2"  # a total: by channel, where a change shows first
    if series != TOTAL_SERIES:
        dimension, _, value = series.partition(":")
        report = _GA4_REPORTS.get(dimension, "lifecycle-traffic-acquisition-v2")
        flt = [{"type": 1, "fieldName": dimension, "evaluationType": 1, "expressionList": [value], "complement": False}]
        params += "&_r..dataFilters=" + json.dumps(flt, separators=(",", ":"))
    return (
        f"https://analytics.google.com/analytics/web/#/p{number}/reports/explorer"
        f"?params={quote(params, safe='')}&r={report}"
    )


def gsc_url(site: str, *, series: str, start: date, end: date) -> str:
    """The Search Console performance report of ``site`` filtered to ``series``."""
    query = {"resource_id": site, "start_date": _day(start), "end_date": _day(end)}
    dimension, _, value = series.partition(":")
    if dimension in ("page", "query"):
        query[dimension] = "!" + value
    return "https://search.google.com/search-console/performance/search-analytics?" + urlencode(query, quote_via=quote)


@dataclass(frozen=True, slots=True)
class ReportLink:
    text: str  # "Open in Google Analytics"
    url: str


@dataclass(frozen=True)
class Links:
    """What a renderer needs to put links in a message; the empty default puts none.

    ``reports`` maps a property to ``("ga4", "properties/123")`` or ``("gsc", "sc-domain:x")``;
    ``full_list`` overrides where "and N more" points (the outbox's HTML copy).
    """

    public_url: str = ""
    signer: Signer | None = None
    now: datetime | None = None
    reports: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    full_list: str = ""
    #: Read at each signing when ``now`` is None: links made once by a long-lived process
    #: (a Celery worker's runtime) are signed as of the message, not as of the process start.
    clock: Callable[[], datetime] | None = None

    def _now(self) -> datetime | None:
        if self.now is not None:
            return self.now
        return self.clock() if self.clock is not None else None

    def report(self, finding: Finding) -> ReportLink | None:
        a = finding.anomaly
        where = self.reports.get(a.property)
        if where is None:
            return None
        source, ident = where
        start = a.day - timedelta(days=REPORT_DAYS - 1)
        if source == "ga4":
            return ReportLink("Open in Google Analytics", ga4_url(ident, series=a.series, start=start, end=a.day))
        if source == "gsc":
            return ReportLink("Open in Search Console", gsc_url(ident, series=a.series, start=start, end=a.day))
        return None

    def _signed(self, purpose: str, finding: Finding, label: str = "", also: Sequence[Finding] = ()) -> str:
        now = self._now() if self.public_url and self.signer is not None and finding.id is not None else None
        if now is None or self.signer is None or finding.id is None:
            return ""
        ids = [finding.id, *(f.id for f in also if f.id is not None)]
        return self.signer.sign(purpose, ids if also else finding.id, now=now, label=label)

    def feedback(self, finding: Finding, *, also: Sequence[Finding] = ()) -> tuple[ReportLink, ...]:
        """One signed link per feedback label for ``finding`` (and the findings ``also`` told
        with it: an incident's parts are labelled with its lead), or none without a public
        URL and a secret."""
        out = []
        for label, text in FEEDBACK_LABELS:
            token = self._signed("feedback", finding, label, also)
            if token:
                out.append(ReportLink(text, f"{self.public_url}/feedback/{token}"))
        return tuple(out)

    def chart(self, finding: Finding) -> str:
        token = self._signed("chart", finding)
        return f"{self.public_url}/charts/{token}.png" if token else ""

    def all_findings(self, digest_id: int | None) -> str:
        """Where "and N more" points: the outbox's copy, or the signed page of ``barometer web``."""
        if self.full_list:
            return self.full_list
        now = self._now() if self.public_url and self.signer is not None and digest_id is not None else None
        if now is None or self.signer is None or digest_id is None:
            return ""
        token = self.signer.sign("digest", digest_id, now=now)
        return f"{self.public_url}/digests/{digest_id}/all?t={token}"
