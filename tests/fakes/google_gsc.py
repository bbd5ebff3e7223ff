"""A fake Search Console API (``searchAnalytics/query`` and ``sites``), real wire format.

Data are facts ``(day, {dimension: value}, clicks, impressions, position)`` per site; a
query groups them by the requested dimensions: clicks and impressions are summed, position
is the impressions-weighted mean, ``ctr`` is clicks / impressions; rows are sorted by
clicks, descending. ``rowLimit`` (at most 25,000) and ``startRow`` page; ``rows`` is absent
when empty. Days after ``final_through`` exist only with ``dataState: "all"``, which then
also reports ``metadata.firstIncompleteDate``. The site URL arrives percent-encoded in
the path (``sc-domain%3Ashop.example``) and is decoded to look the site up.

Hourly data (``dimensions`` with ``hour``, which needs ``dataState: "hourly_all"``, any
case): ``GscSite.add_hour`` facts keyed by an aware datetime; rows come back keyed by the
Pacific timestamp with its offset (``2026-12-07T01:00:00-08:00``), the hours of the Pacific
days asked for; ``first_incomplete_hour`` is reported as ``metadata.firstIncompleteHour``.
A site with ``hourly = False`` answers such a query 400, as a property without hourly data.

``synthetic_pages = N`` makes a site generate N page rows per day on the fly (a
benchmark's 16 months of 100,000 rows a day would not fit in memory as facts).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.google import FakeOAuth, FakeServer, Reply, Request, google_error

__all__ = ["FakeSearchConsole", "GscSite"]

DIMENSIONS = ("date", "query", "page", "country", "device", "searchAppearance", "hour")
PACIFIC = ZoneInfo("America/Los_Angeles")
MAX_ROWS = 25_000


@dataclass
class GscSite:
    url: str
    final_through: date | None = None
    permission: str = "siteOwner"
    facts: list[tuple[date, dict[str, str], float, float, float]] = field(default_factory=list)
    synthetic_pages: int = 0
    #: Days whose queries answer 503 (an outage in the middle of a backfill).
    broken_days: set[date] = field(default_factory=set)
    #: A sloppy server: every page starts at row 0.
    ignore_start_row: bool = False
    #: Metrics left out of every row (a sloppy server again).
    omit: tuple[str, ...] = ()
    #: Hourly facts: (aware start of the hour, dimensions, clicks, impressions, position).
    hours: list[tuple[datetime, dict[str, str], float, float, float]] = field(default_factory=list)
    hourly: bool = True
    first_incomplete_hour: datetime | None = None

    def add(self, day: date, dims: dict[str, str], *, clicks: float, impressions: float, position: float) -> None:
        self.facts.append((day, dims, clicks, impressions, position))

    def add_hour(
        self, hour: datetime, dims: dict[str, str], *, clicks: float, impressions: float, position: float = 5.0
    ) -> None:
        assert hour.tzinfo is not None, "hourly facts are aware datetimes"
        self.hours.append((hour, dims, clicks, impressions, position))


def synthetic_row(day: date, i: int) -> tuple[str, int, int, float]:
    """Page ``i`` of a synthetic site on ``day``: (url, clicks, impressions, position)."""
    clicks = (i * 7 + day.toordinal()) % 50
    return f"https://shop.example/p/{i}", clicks, clicks * 10 + i % 13, 1.0 + (i % 100) / 10


class FakeSearchConsole(FakeServer):
    def __init__(self, *, oauth: FakeOAuth | None = None) -> None:
        super().__init__(oauth=oauth)
        self.sites: dict[str, GscSite] = {}

    def add_site(self, url: str, **options: Any) -> GscSite:
        site = GscSite(url, **options)
        self.sites[url] = site
        return site

    @property
    def queries(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/searchAnalytics/query") and isinstance(r.body, dict)]

    def route(self, request: Request) -> Reply:
        if request.path == "/webmasters/v3/sites" and request.method == "GET":
            entries = [{"siteUrl": s.url, "permissionLevel": s.permission} for s in self.sites.values()]
            return 200, ({"siteEntry": entries} if entries else {}), {}
        m = re.fullmatch(r"/webmasters/v3/sites/([^/]+)/searchAnalytics/query", request.raw_path)
        if m is None or request.method != "POST":
            return 404, google_error(404, "Not Found", "NOT_FOUND", "notFound"), {}
        site = self.sites.get(_unquote(m[1]))
        if site is None or site.permission == "siteUnverifiedUser":
            message = f"User does not have sufficient permission for site '{_unquote(m[1])}'."
            return 403, google_error(403, message, "PERMISSION_DENIED", "forbidden"), {}
        return self._query(site, request.body if isinstance(request.body, dict) else {})

    def _query(self, site: GscSite, body: dict[str, Any]) -> Reply:
        dims = list(body.get("dimensions", []))
        limit, start_row = int(body.get("rowLimit", 1000)), int(body.get("startRow", 0))
        if any(d not in DIMENSIONS for d in dims) or not 1 <= limit <= MAX_ROWS:
            return 400, google_error(400, "Invalid value in the request.", "INVALID_ARGUMENT", "invalidParameter"), {}
        start, end = date.fromisoformat(body["startDate"]), date.fromisoformat(body["endDate"])
        if "hour" in dims:
            return self._hourly(site, body, dims, start, end, start_row, limit)
        if start == end and start in site.broken_days:
            return 503, google_error(503, "Backend Error", "UNAVAILABLE", "backendError"), {}
        state = body.get("dataState", "final")
        last = end if state == "all" or site.final_through is None else min(end, site.final_through)
        if site.synthetic_pages:
            rows = self._synthetic(site, dims, start, last, start_row, limit)
        else:
            first = 0 if site.ignore_start_row else start_row
            rows = self._grouped(site, dims, start, last)[first : first + limit]
        rows = [{k: v for k, v in row.items() if k not in site.omit} for row in rows]
        out: dict[str, Any] = {"responseAggregationType": "byPage" if "page" in dims else "byProperty"}
        if rows:
            out["rows"] = rows
        if state == "all" and site.final_through is not None and site.final_through < end:
            out["metadata"] = {"firstIncompleteDate": (site.final_through + timedelta(days=1)).isoformat()}
        return 200, out, {}

    def _hourly(
        self, site: GscSite, body: dict[str, Any], dims: list[str], start: date, end: date, start_row: int, limit: int
    ) -> Reply:
        if str(body.get("dataState", "")).lower() != "hourly_all":
            message = "Grouping by HOUR requires setting the dataState to HOURLY_ALL."
            return 400, google_error(400, message, "INVALID_ARGUMENT", "invalidParameter"), {}
        if not site.hourly:
            message = "Hourly data are not available for this property."
            return 400, google_error(400, message, "INVALID_ARGUMENT", "invalidParameter"), {}
        facts = []
        for hour, values, clicks, impressions, position in site.hours:
            pacific = hour.astimezone(PACIFIC)
            if start <= pacific.date() <= end:
                facts.append((pacific.date(), {**values, "hour": pacific.isoformat()}, clicks, impressions, position))
        grouped = _group(facts, dims)
        rows = grouped[start_row : start_row + limit]
        out: dict[str, Any] = {"responseAggregationType": "byPage" if "page" in dims else "byProperty"}
        if rows:
            out["rows"] = rows
        if site.first_incomplete_hour is not None:
            out["metadata"] = {"firstIncompleteHour": site.first_incomplete_hour.astimezone(PACIFIC).isoformat()}
        return 200, out, {}

    def _grouped(self, site: GscSite, dims: list[str], start: date, end: date) -> list[dict[str, Any]]:
        return _group([f for f in site.facts if start <= f[0] <= end], dims)

    def _synthetic(
        self, site: GscSite, dims: list[str], start: date, end: date, start_row: int, limit: int
    ) -> list[dict[str, Any]]:
        if start != end or start > end:
            return []
        if dims == ["date"]:
            clicks, impressions = _synthetic_totals(start.toordinal() % 50, site.synthetic_pages)
            return [
                {
                    "keys": [start.isoformat()],
                    "clicks": clicks,
                    "impressions": impressions,
                    "ctr": clicks / impressions,
                    "position": 5.5,
                }
            ]
        rows = []
        for i in range(start_row, min(start_row + limit, site.synthetic_pages)):
            url, c, n, p = synthetic_row(start, i)
            rows.append({"keys": [url], "clicks": c, "impressions": n, "ctr": c / n if n else 0.0, "position": p})
        return rows


def _group(facts: list[tuple[date, dict[str, str], float, float, float]], dims: list[str]) -> list[dict[str, Any]]:
    """Facts grouped by ``dims``: clicks and impressions summed, position weighted by impressions."""
    groups: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for day, values, clicks, impressions, position in facts:
        key = tuple(day.isoformat() if d == "date" else values[d] for d in dims if d == "date" or d in values)
        if len(key) != len(dims):
            continue
        sums = groups[key]
        sums[0] += clicks
        sums[1] += impressions
        sums[2] += position * impressions
    rows = [
        {
            "keys": list(key),
            "clicks": clicks,
            "impressions": impressions,
            "ctr": clicks / impressions if impressions else 0.0,
            "position": weighted / impressions if impressions else 0.0,
        }
        for key, (clicks, impressions, weighted) in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r["clicks"], r["keys"]))


@functools.cache
def _synthetic_totals(phase: int, pages: int) -> tuple[int, int]:
    day = date.fromordinal(phase + 50 * 20_000)
    clicks = impressions = 0
    for i in range(pages):
        _, c, n, _ = synthetic_row(day, i)
        clicks, impressions = clicks + c, impressions + n
    return clicks, impressions


def _unquote(segment: str) -> str:
    from urllib.parse import unquote

    return unquote(segment)
