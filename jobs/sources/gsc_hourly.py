"""Search Console by the hour: ``searchAnalytics.query`` with the ``hour`` dimension.

:class:`GscHourlySource` is a :class:`jobs.sources.gsc.GscSource` (same service object,
retries, error translation and per-minute limiter) that asks, one Pacific day at a time,
with ``dimensions: ["hour"]`` (the total) or ``["hour", breakdown]`` and
``dataState: "hourly_all"`` (the only state hourly rows come in). Google keeps hourly rows
for about the last 10 days, for properties that have them; a property without them is
refused by the API, and the run says so in one line.

Each row's key is the start of a Pacific hour with its offset
(``2026-12-07T01:00:00-08:00``); it is converted to the property's wall-clock hour, so a
local day spans parts of two Pacific days and both are asked for. Hours at or after
``metadata.firstIncompleteHour`` are flagged INCOMPLETE. On the night clocks go back, the
repeated local hour sums both, as GA4 reports it.

Quota: every query passes the shared limiter first (per site and per account, per
minute) and then :attr:`GscHourlySource.hourly_limiter`, a budget of its own of at most
``1 - gsc_reserve_share`` of the per-minute limit: the daily run always finds the rest
free within any minute, however busy the hourly watch is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jobs.domain import TOTAL_SERIES, PointFlag, PropertySpec
from jobs.errors import InputError
from jobs.hourly.domain import HourPoint, RealtimeWindow
from jobs.sources.ga4_hourly import HourlyFetch
from jobs.sources.gsc import ROW_LIMIT, GscSource, _malformed, breakdowns
from jobs.sources.limits import RateLimiter

__all__ = ["HOURLY_STATE", "PACIFIC", "GscHourlySource", "hourly_share"]

PACIFIC = ZoneInfo("America/Los_Angeles")
#: The data state hourly rows are served in (possibly incomplete, by definition).
HOURLY_STATE = "hourly_all"
_HOURLY_METRICS = ("clicks", "impressions")


def hourly_share(rate: int, reserve_share: float) -> int:
    """Queries a minute the hourly watch may send: what ``reserve_share`` leaves of ``rate``."""
    return max(1, int(rate * (1.0 - reserve_share)))


class GscHourlySource(GscSource):
    """A Search Console site's clicks and impressions by the hour; see the module docstring."""

    def __init__(self, *, hourly_limiter: RateLimiter | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hourly_limiter = hourly_limiter

    def fetch_hours(self, spec: PropertySpec, plan: HourlyFetch) -> Iterator[HourPoint]:
        if plan.start > plan.end:
            raise InputError(f"Search Console {spec.id}: start {plan.start} is after end {plan.end}")
        metrics = tuple(m for m in plan.metrics if m in _HOURLY_METRICS)
        if not metrics:
            raise InputError(f"property {spec.name!r}: Search Console has hourly {' and '.join(_HOURLY_METRICS)} only")
        dims = tuple(d for d in dict.fromkeys(plan.breakdowns) if d in breakdowns(spec))
        zone = ZoneInfo(spec.timezone)
        first = datetime.combine(plan.start, time(), zone).astimezone(PACIFIC).date()
        last = (datetime.combine(plan.end + timedelta(days=1), time(), zone) - timedelta(minutes=1)).astimezone(PACIFIC)
        for dim in (None, *dims):
            sums: dict[tuple[str, datetime], list[float]] = defaultdict(lambda: [0.0] * len(metrics))
            flags: dict[tuple[str, datetime], PointFlag] = {}
            day = first
            while day <= last.date():
                for row, incomplete_from in self._hour_pages(spec, day, dim):
                    hour, series = self._row_key(row, spec, dim, zone)
                    if not plan.start <= hour.date() <= plan.end:
                        continue
                    cell = sums[(series, hour)]
                    for i, metric in enumerate(metrics):
                        value = row.get(metric)
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            cell[i] += float(value)
                    late = incomplete_from is not None and _aware(row, spec) >= incomplete_from
                    flags[(series, hour)] = flags.get((series, hour), PointFlag.NONE) | (
                        PointFlag.INCOMPLETE if late else PointFlag.NONE
                    )
                day += timedelta(days=1)
            for (series, hour), values in sorted(sums.items(), key=lambda item: (item[0][1], item[0][0])):
                for metric, value in zip(metrics, values, strict=True):
                    yield HourPoint(spec.name, series, metric, hour, value, flags[(series, hour)])

    def realtime(
        self, spec: PropertySpec, metrics: tuple[str, ...], *, now_local: datetime
    ) -> tuple[RealtimeWindow, ...]:
        """Search Console has no realtime report."""
        return ()

    def _hour_pages(
        self, spec: PropertySpec, day: date, dim: str | None
    ) -> Iterator[tuple[Mapping[str, Any], datetime | None]]:
        start_row, first_key = 0, None
        while True:
            body = self._body(day, day, ["hour", dim] if dim else ["hour"], state=HOURLY_STATE, start_row=start_row)
            if self.hourly_limiter is not None:
                self.hourly_limiter.acquire(("hourly", spec.id), ("hourly-account", spec.account))
            response = self._query(spec, body)
            rows = response.get("rows", [])
            if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
                raise _malformed(spec, "rows is not a list of objects")
            if not rows or (start_row and rows[0].get("keys") == first_key):
                return
            first_key = rows[0].get("keys")
            incomplete_from = _incomplete_from(response, spec)
            self.stats.rows += len(rows)
            for row in rows:
                yield row, incomplete_from
            if len(rows) < ROW_LIMIT:
                return
            start_row += ROW_LIMIT

    def _row_key(
        self, row: Mapping[str, Any], spec: PropertySpec, dim: str | None, zone: ZoneInfo
    ) -> tuple[datetime, str]:
        keys = row.get("keys")
        if not isinstance(keys, list) or len(keys) != (2 if dim else 1) or not all(isinstance(k, str) for k in keys):
            raise _malformed(spec, f"row keys {keys!r} do not match the dimensions asked for")
        hour = _aware(row, spec).astimezone(zone).replace(tzinfo=None, minute=0, second=0, microsecond=0)
        return hour, TOTAL_SERIES if dim is None else f"{dim}:{keys[1]}"


def _parse_hour(text: object, spec: PropertySpec) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise _malformed(spec, f"{text!r} is not an ISO hour with its offset") from None
    if moment.tzinfo is None:
        raise _malformed(spec, f"{text!r} has no UTC offset")
    return moment


def _aware(row: Mapping[str, Any], spec: PropertySpec) -> datetime:
    return _parse_hour(row["keys"][0], spec)


def _incomplete_from(response: Mapping[str, Any], spec: PropertySpec) -> datetime | None:
    metadata = response.get("metadata")
    if not isinstance(metadata, Mapping) or "firstIncompleteHour" not in metadata:
        return None
    return _parse_hour(metadata["firstIncompleteHour"], spec)
