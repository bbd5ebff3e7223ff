"""Human names for metrics and series, shared by summaries and rendered messages."""

from __future__ import annotations

from jobs.domain import TOTAL_SERIES

__all__ = ["DIMENSION_LABELS", "metric_label", "series_label"]

_METRICS = {
    "sessions": "sessions",
    "totalUsers": "users",
    "activeUsers": "active users",
    "newUsers": "new users",
    "keyEvents": "key events",
    "conversions": "conversions",
    "screenPageViews": "page views",
    "eventCount": "events",
    "clicks": "clicks",
    "impressions": "impressions",
    "ctr": "CTR",
    "position": "average position",
}

#: Reader-facing names of breakdown dimensions (GA4 and Search Console).
DIMENSION_LABELS = {
    "sessionDefaultChannelGroup": "channel",
    "sessionSource": "source",
    "sessionMedium": "medium",
    "sessionCampaignName": "campaign",
    "landingPage": "landing page",
    "landingPagePlusQueryString": "landing page",
    "pagePath": "page",
    "page": "page",
    "query": "query",
    "country": "country",
    "device": "device",
    "deviceCategory": "device",
}


def metric_label(metric: str) -> str:
    """``keyEvents`` -> ``key events``; unknown names are returned as they are."""
    return _METRICS.get(metric, metric)


def series_label(series: str) -> str:
    """``landingPage:/pricing`` -> ``landing page /pricing``; the total -> ``all traffic``.

    The result still contains untrusted text (page paths, queries): escape it per channel.
    """
    if series == TOTAL_SERIES:
        return "all traffic"
    dimension, sep, value = series.partition(":")
    if not sep:
        return series
    label = DIMENSION_LABELS.get(dimension.rsplit("/", 1)[-1], dimension)
    return f"{label} {value!r}" if dimension == "query" else f"{label} {value}"
