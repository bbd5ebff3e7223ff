"""GA4 by the hour: the Data API's ``dateHour`` and the Realtime API's last minutes.

:class:`Ga4HourlySource` is a :class:`jobs.sources.ga4.Ga4Source` (same client, retries,
error translation and quota guard) that

* fetches ``dateHour`` (``YYYYMMDDHH``, the property's local time) for the total and each
  hourly breakdown over whole local days, batched like the daily fetch; days after the
  last final day (today and yesterday) are marked incomplete;
* reads ``runRealtimeReport`` with the ``minutesAgo`` dimension over the last 30 minutes
  (the standard property's window) for the realtime-capable count metrics; the newest,
  still running minute is left out.

Quota: the Data API requests pass the same guard as the daily fetch, with
:attr:`Ga4Source.reserve` holding per budget the tokens the daily run keeps: once a
response says a budget is below its reserve, no further hourly request is sent and
:class:`jobs.errors.SourceQuotaError` says why. The Realtime API has its own quota
category and does not draw on those budgets.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from google.analytics.data_v1beta.types import (
    BatchRunReportsRequest,
    DateRange,
    Dimension,
    Metric,
    OrderBy,
    RunRealtimeReportRequest,
    RunReportRequest,
    RunReportResponse,
)

from jobs.domain import TOTAL_SERIES, PointFlag, PropertySpec
from jobs.errors import InputError, SourceTransientError
from jobs.hourly.domain import HourPoint, RealtimeWindow
from jobs.sources.ga4 import BATCH_SIZE, OTHER_ROW, Ga4Source, translate_error

__all__ = ["REALTIME_METRICS", "Ga4HourlySource", "HourlyFetch", "reserve_for"]

log = logging.getLogger(__name__)

#: Count metrics the Realtime API serves that add up over minutes (users do not).
REALTIME_METRICS = ("eventCount", "keyEvents", "screenPageViews")
#: Minutes a standard property's realtime report covers.
REALTIME_MINUTES = 30


@dataclass(frozen=True, slots=True)
class HourlyFetch:
    """What one hourly fetch asks for: metrics and breakdowns over whole local days."""

    metrics: tuple[str, ...]
    breakdowns: tuple[str, ...]
    start: date
    end: date


class Ga4HourlySource(Ga4Source):
    """A GA4 property's hourly metrics; see the module docstring."""

    def fetch_hours(self, spec: PropertySpec, plan: HourlyFetch) -> Iterator[HourPoint]:
        if plan.start > plan.end:
            raise InputError(f"GA4 {spec.id}: start {plan.start} is after end {plan.end}")
        if not plan.metrics:
            raise InputError(f"property {spec.name!r}: no hourly metrics")
        last_final = self.last_final_date(spec, today=self.today)
        pending = [(("dateHour",), 0), *((("dateHour", b), 0) for b in dict.fromkeys(plan.breakdowns))]
        while pending:
            batch, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            request = BatchRunReportsRequest(
                property=spec.id, requests=[self._hour_request(dims, offset, plan) for dims, offset in batch]
            )
            self._ensure_quota(spec)
            reports = self._batch(spec, request, expected=len(batch))
            for (dims, offset), report in zip(batch, reports, strict=True):
                rows = yield from _hour_points(spec, dims, report, last_final)
                self.stats.rows += rows
                if rows and offset + rows < report.row_count:
                    pending.append((dims, offset + rows))
            self._note_quota(spec, reports)

    def _hour_request(self, dims: tuple[str, ...], offset: int, plan: HourlyFetch) -> RunReportRequest:
        return RunReportRequest(
            dimensions=[Dimension(name=d) for d in dims],
            metrics=[Metric(name=m) for m in plan.metrics],
            date_ranges=[DateRange(start_date=plan.start.isoformat(), end_date=plan.end.isoformat())],
            limit=self.page_size,
            offset=offset,
            keep_empty_rows=len(dims) == 1,
            return_property_quota=True,
            order_bys=[OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name=d)) for d in dims],
        )

    def realtime(
        self, spec: PropertySpec, metrics: Sequence[str], *, now_local: datetime
    ) -> tuple[RealtimeWindow, ...]:
        """The last full minutes (up to 29) of each realtime-capable metric, totals only."""
        wanted = [m for m in metrics if m in REALTIME_METRICS]
        if not wanted:
            return ()
        request = RunRealtimeReportRequest(
            property=spec.id,
            dimensions=[Dimension(name="minutesAgo")],
            metrics=[Metric(name=m) for m in wanted],
            return_property_quota=True,
        )
        self.stats.requests += 1
        try:
            response = self._client().run_realtime_report(
                request=request, retry=self._retry_once(), timeout=self.policy.timeout
            )
        except Exception as exc:
            raise translate_error(exc, where=f"GA4 {spec.id} (realtime)", account=spec.account) from exc
        names = [h.name for h in response.metric_headers]
        per_minute = {m: [0.0] * (REALTIME_MINUTES - 1) for m in wanted}
        for row in response.rows:
            ago = _int(row.dimension_values[0].value, spec)
            if not 1 <= ago < REALTIME_MINUTES:
                continue  # minute 0 is still running
            for name, cell in zip(names, row.metric_values, strict=True):
                if name in per_minute:
                    per_minute[name][REALTIME_MINUTES - 1 - ago] = _float(cell.value, spec)
        end = now_local.replace(second=0, microsecond=0)
        return tuple(RealtimeWindow(spec.name, m, end, tuple(values)) for m, values in per_minute.items())


def _hour_points(
    spec: PropertySpec, dims: tuple[str, ...], report: RunReportResponse, last_final: date
) -> Generator[HourPoint, None, int]:
    names = [h.name for h in report.dimension_headers]
    metrics = [h.name for h in report.metric_headers]
    if not report.rows:
        return 0
    if sorted(names) != sorted(dims):
        raise SourceTransientError(f"GA4 {spec.id}: malformed response: dimension headers {names} for {list(dims)}")
    at = names.index("dateHour")
    breakdown = dims[1] if len(dims) > 1 else None
    child = names.index(breakdown) if breakdown else -1
    flags = PointFlag.THRESHOLDED if report.metadata.subject_to_thresholding else PointFlag.NONE
    for row in report.rows:
        hour = _hour(row.dimension_values[at].value, spec)
        row_flags = flags | (PointFlag.INCOMPLETE if hour.date() > last_final else PointFlag.NONE)
        if breakdown is None:
            series = TOTAL_SERIES
        else:
            value = row.dimension_values[child].value
            series = f"{breakdown}:{value}"
            if value == OTHER_ROW:
                row_flags |= PointFlag.OTHER_ROW
        for metric, cell in zip(metrics, row.metric_values, strict=True):
            yield HourPoint(spec.name, series, metric, hour, _float(cell.value, spec), row_flags)
    return len(report.rows)


def _hour(text: str, spec: PropertySpec) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%d%H")
    except ValueError:
        raise SourceTransientError(f"GA4 {spec.id}: malformed response: dateHour {text!r} is not YYYYMMDDHH") from None


def _int(text: str, spec: PropertySpec) -> int:
    try:
        return int(text)
    except ValueError:
        raise SourceTransientError(f"GA4 {spec.id}: malformed response: minutesAgo {text!r}") from None


def _float(text: str, spec: PropertySpec) -> float:
    try:
        return float(text)
    except ValueError:
        raise SourceTransientError(f"GA4 {spec.id}: malformed response: metric value {text!r}") from None


def reserve_for(share: float, *, tier: str = "standard") -> Mapping[str, int]:
    """Tokens per budget the daily run keeps: ``share`` of a standard (or 360) property's quota."""
    limits = {"tokens_per_day": 200_000, "tokens_per_hour": 40_000, "tokens_per_project_per_hour": 14_000}
    scale = 10 if tier == "360" else 1
    return {name: int(limit * scale * share) for name, limit in limits.items()}
