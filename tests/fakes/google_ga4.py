"""A fake GA4 Data API (v1beta) and the Admin API calls of ``properties discover``.

Data are facts ``(day, {dimension: value}, {metric: number})`` per property; a report
groups them by the requested dimensions and sums the metrics, like GA4 does for counts.
Wire format as the real API: ``date`` as ``YYYYMMDD``, metric values as strings, int64
fields (``limit``, ``offset``, sampling counts) as strings, proto3 JSON omitting defaults
(no ``rows`` and no ``rowCount`` when empty), ``propertyQuota`` when asked for.

Hourly data: a property with ``traffic`` (``traffic(start, end)`` -> counts per metric over
a local wall-clock interval, totals only) and ``clock`` (aware "now") answers ``dateHour``
reports (``YYYYMMDDHH``; hours not begun yet are absent, the running one partial) and
``runRealtimeReport`` with ``minutesAgo`` (the last 30 minutes, minute 0 still running).

Quirks to switch on per property: ``thresholded``, ``sampled``, ``other_after`` (keep that
many values of a breakdown and fold the rest into ``(other)``), and a token budget:
``tokens_per_day`` / ``tokens_per_hour`` left; a request that would exceed it gets
``429 RESOURCE_EXHAUSTED "Exhausted property tokens ..."``. Each report costs
``token_cost(report)`` tokens.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.google import FakeOAuth, FakeServer, Reply, Request, google_error

__all__ = ["FakeGA4", "Ga4Property"]

COUNTS = {
    "sessions",
    "totalUsers",
    "activeUsers",
    "newUsers",
    "keyEvents",
    "conversions",
    "screenPageViews",
    "eventCount",
}
DIMENSIONS = {"date", "dateHour", "sessionDefaultChannelGroup", "landingPage", "deviceCategory", "country", "pagePath"}


@dataclass
class Ga4Property:
    id: str  # numeric, as in "properties/123"
    display_name: str = "Shop"
    account: str = "accounts/1"
    account_name: str = "Shop Inc"
    time_zone: str = "Europe/Berlin"
    facts: list[tuple[date, dict[str, str], dict[str, float]]] = field(default_factory=list)
    metrics: set[str] = field(default_factory=lambda: set(COUNTS) | {"bounceRate", "averageSessionDuration"})
    thresholded: bool = False
    sampled: bool = False
    other_after: int | None = None
    tokens_per_day: int = 200_000
    tokens_per_hour: int = 40_000
    tokens_used: int = 0
    traffic: Callable[[datetime, datetime], dict[str, float]] | None = None
    clock: Callable[[], datetime] | None = None
    realtime_requests: int = 0

    def local_now(self) -> datetime:
        assert self.clock is not None, "an hourly fake property needs a clock"
        return self.clock().astimezone(ZoneInfo(self.time_zone)).replace(tzinfo=None)

    def add(self, day: date, dims: dict[str, str], **metrics: float) -> None:
        self.facts.append((day, dims, metrics))


class _Rejected(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])
        self.reply = reply


def token_cost(days: int, dims: int, rows: int) -> int:
    """The fake's price of one report: grows with the date range, dimensions and rows."""
    return 1 + (days - 1) // 30 + dims + rows // 2000


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class FakeGA4(FakeServer):
    def __init__(self, *, oauth: FakeOAuth | None = None) -> None:
        super().__init__(oauth=oauth)
        self.properties: dict[str, Ga4Property] = {}
        #: False: an emulator without batchRunReports (404).
        self.batches = True

    def add_property(self, prop_id: str, **options: Any) -> Ga4Property:
        prop = Ga4Property(prop_id, **options)
        self.properties[prop_id] = prop
        return prop

    @property
    def reports(self) -> list[dict[str, Any]]:
        """Every report request received (inside batches too), in order."""
        out: list[dict[str, Any]] = []
        for r in self.requests:
            if r.path.endswith(":batchRunReports") and isinstance(r.body, dict):
                out += r.body.get("requests", [])
            elif r.path.endswith(":runReport") and isinstance(r.body, dict):
                out.append(r.body)
        return out

    def route(self, request: Request) -> Reply:
        if request.path.endswith(":batchRunReports") and not self.batches:
            return 404, google_error(404, "Method not found.", "NOT_FOUND"), {}
        if m := re.fullmatch(r"/v1beta/properties/([^/:]+):runRealtimeReport", request.path):
            prop = self.properties.get(m[1])
            if prop is None or prop.traffic is None:
                return 403, google_error(403, "User does not have sufficient permissions.", "PERMISSION_DENIED"), {}
            return 200, self._realtime(prop, request.body if isinstance(request.body, dict) else {}), {}
        if m := re.fullmatch(r"/v1beta/properties/([^/:]+):(runReport|batchRunReports)", request.path):
            prop = self.properties.get(m[1])
            if prop is None:
                return (
                    403,
                    google_error(
                        403, "User does not have sufficient permissions for this property.", "PERMISSION_DENIED"
                    ),
                    {},
                )
            body = request.body if isinstance(request.body, dict) else {}
            if m[2] == "runReport":
                return self._reports(prop, [body], batch=False)
            return self._reports(prop, body.get("requests", []), batch=True)
        if request.path == "/v1beta/accountSummaries":
            return 200, self._summaries(), {}
        if m := re.fullmatch(r"/v1beta/properties/(\d+)", request.path):
            prop = self.properties.get(m[1])
            if prop is None:
                return 404, google_error(404, "Property not found.", "NOT_FOUND"), {}
            return (
                200,
                {
                    "name": f"properties/{prop.id}",
                    "displayName": prop.display_name,
                    "timeZone": prop.time_zone,
                    "currencyCode": "EUR",
                    "parent": prop.account,
                },
                {},
            )
        return 404, google_error(404, f"no route {request.path}", "NOT_FOUND"), {}

    def _summaries(self) -> dict[str, Any]:
        accounts: dict[str, dict[str, Any]] = {}
        for prop in self.properties.values():
            entry = accounts.setdefault(
                prop.account,
                {
                    "name": f"accountSummaries/{prop.account.split('/')[-1]}",
                    "account": prop.account,
                    "displayName": prop.account_name,
                    "propertySummaries": [],
                },
            )
            entry["propertySummaries"].append(
                {
                    "property": f"properties/{prop.id}",
                    "displayName": prop.display_name,
                    "propertyType": "PROPERTY_TYPE_ORDINARY",
                    "parent": prop.account,
                }
            )
        return {"accountSummaries": list(accounts.values())}

    def _reports(self, prop: Ga4Property, bodies: list[dict[str, Any]], *, batch: bool) -> Reply:
        if batch and not 1 <= len(bodies) <= 5:
            return 400, google_error(400, "Requests per batch must be between 1 and 5.", "INVALID_ARGUMENT"), {}
        try:
            built = [self._report(prop, body) for body in bodies]
        except _Rejected as exc:
            return exc.reply
        cost = sum(c for _, c in built)
        with self.lock:
            if prop.tokens_used + cost > min(prop.tokens_per_day, prop.tokens_per_hour):
                which = "day" if prop.tokens_per_day <= prop.tokens_per_hour else "hour"
                return (
                    429,
                    google_error(
                        429,
                        f"Exhausted property tokens per {which} for a property. The quota will be refreshed later.",
                        "RESOURCE_EXHAUSTED",
                    ),
                    {},
                )
            prop.tokens_used += cost
            used = prop.tokens_used
        reports = []
        for (report, report_cost), body in zip(built, bodies, strict=True):
            if body.get("returnPropertyQuota"):
                report["propertyQuota"] = {
                    "tokensPerDay": {"consumed": report_cost, "remaining": prop.tokens_per_day - used},
                    "tokensPerHour": {"consumed": report_cost, "remaining": prop.tokens_per_hour - used},
                    "concurrentRequests": {"remaining": 10},
                    "serverErrorsPerProjectPerHour": {"remaining": 10},
                    "potentiallyThresholdedRequestsPerHour": {"remaining": 120},
                    "tokensPerProjectPerHour": {"consumed": report_cost, "remaining": 14_000 - used},
                }
            reports.append(report)
        if batch:
            return 200, {"reports": reports, "kind": "analyticsData#batchRunReports"}, {}
        return 200, reports[0], {}

    def _realtime(self, prop: Ga4Property, body: dict[str, Any]) -> dict[str, Any]:
        assert prop.traffic is not None
        dims = [d["name"] for d in body.get("dimensions", [])]
        metrics = [m["name"] for m in body.get("metrics", [])]
        assert dims == ["minutesAgo"], dims
        now = prop.local_now()
        minute = now.replace(second=0, microsecond=0)
        rows = []
        with self.lock:
            prop.realtime_requests += 1
        for ago in range(30):
            start = minute - timedelta(minutes=ago)
            counts = prop.traffic(start, min(start + timedelta(minutes=1), now))
            values = [counts.get(m, 0.0) for m in metrics]
            if any(values):
                rows.append(
                    {
                        "dimensionValues": [{"value": f"{ago:02d}"}],
                        "metricValues": [{"value": _number(round(v))} for v in values],
                    }
                )
        report: dict[str, Any] = {
            "dimensionHeaders": [{"name": "minutesAgo"}],
            "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
            "kind": "analyticsData#runRealtimeReport",
        }
        if rows:
            report["rows"], report["rowCount"] = rows, len(rows)
        if body.get("returnPropertyQuota"):
            report["propertyQuota"] = {"tokensPerDay": {"consumed": 1, "remaining": 199_999}}
        return report

    def _hourly_groups(
        self, prop: Ga4Property, dims: list[str], metrics: list[str], start: date, end: date
    ) -> dict[tuple[str, ...], list[float]]:
        assert prop.traffic is not None
        assert dims == ["dateHour"], dims
        now = prop.local_now()
        groups: dict[tuple[str, ...], list[float]] = {}
        hour = datetime(start.year, start.month, start.day)
        while hour.date() <= end and hour < now:
            counts = prop.traffic(hour, min(hour + timedelta(hours=1), now))
            groups[(hour.strftime("%Y%m%d%H"),)] = [float(round(counts.get(m, 0.0))) for m in metrics]
            hour += timedelta(hours=1)
        return groups

    def _report(self, prop: Ga4Property, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        dims = [d["name"] for d in body.get("dimensions", [])]
        metrics = [m["name"] for m in body.get("metrics", [])]
        for kind, names, known in (("dimension", dims, DIMENSIONS), ("metric", metrics, prop.metrics)):
            for name in names:
                if name not in known:
                    error = google_error(400, f"Field {name} is not a valid {kind}.", "INVALID_ARGUMENT")
                    raise _Rejected((400, error, {}))
        (span,) = body["dateRanges"]
        start, end = date.fromisoformat(span["startDate"]), date.fromisoformat(span["endDate"])
        groups: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0] * len(metrics))
        if "dateHour" in dims:
            groups.update(self._hourly_groups(prop, dims, metrics, start, end))
        for day, values, numbers in prop.facts if "dateHour" not in dims else ():
            if start <= day <= end:
                key = tuple(day.strftime("%Y%m%d") if d == "date" else values.get(d, "(not set)") for d in dims)
                sums = groups[key]
                for i, metric in enumerate(metrics):
                    sums[i] += numbers.get(metric, 0.0)
        other = False
        breakdown = [i for i, d in enumerate(dims) if d != "date"]
        if prop.other_after is not None and breakdown:
            at = breakdown[0]
            ranked: dict[str, float] = defaultdict(float)
            for key, sums in groups.items():
                ranked[key[at]] += sums[0] if sums else 0.0
            keep = set(sorted(ranked, key=lambda v: (-ranked[v], v))[: prop.other_after])
            folded: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0] * len(metrics))
            for key, sums in groups.items():
                target = key
                if key[at] not in keep:
                    other = True
                    target = (*key[:at], "(other)", *key[at + 1 :])
                for i, value in enumerate(sums):
                    folded[target][i] += value
            groups = folded
        keys = sorted(groups)
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 10_000))
        page = keys[offset : offset + limit]
        report: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": "TYPE_INTEGER" if m in COUNTS else "TYPE_FLOAT"} for m in metrics],
            "metadata": {"currencyCode": "EUR", "timeZone": prop.time_zone},
            "kind": "analyticsData#runReport",
        }
        if page:
            report["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in key],
                    "metricValues": [{"value": _number(x)} for x in groups[key]],
                }
                for key in page
            ]
        if keys:
            report["rowCount"] = len(keys)
        if prop.thresholded:
            report["metadata"]["subjectToThresholding"] = True
        if prop.sampled:
            report["metadata"]["samplingMetadatas"] = [{"samplesReadCount": "482113", "samplingSpaceSize": "5130014"}]
        if other:
            report["metadata"]["dataLossFromOtherRow"] = True
        return report, token_cost((end - start).days + 1, len(dims), len(page))
