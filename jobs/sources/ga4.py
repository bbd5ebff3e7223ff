"""Google Analytics 4 through the Data API (``google-analytics-data``, REST transport).

:class:`Ga4Source` implements :class:`jobs.ports.MetricSource`. One fetch asks for the
total (dimension ``date``) and each configured breakdown (``date`` + the dimension) over
the whole range, packed into ``batchRunReports`` calls of at most five reports, and pages
each report by ``offset`` until ``rowCount`` rows were read. Series are ``"total"`` and
``"{dimension}:{value}"``; values are stored exactly as served.

Data quirks become point flags: days after the last final day (today minus
``final_lag_days`` in the property's time zone) are INCOMPLETE; a report with
``metadata.subjectToThresholding`` marks its points THRESHOLDED, one with
``samplingMetadatas`` SAMPLED; an ``(other)`` row is OTHER_ROW.

Quota: every request asks for ``returnPropertyQuota``; once a response says fewer than
``min_tokens_left`` tokens are left for the day, the hour or the project-hour, the source
sends no further request (in this fetch or a later one, e.g. the next backfill chunk) and
raises :class:`SourceQuotaError` instead; what was read is kept, the next run continues.

Retries (429 except exhausted quota, 500/502/503/504, connection errors and read
timeouts) use ``google.api_core.retry.Retry``, bounded by ``RetryPolicy.attempts``; every
other vendor error is translated into a one-line :class:`jobs.errors.SourceError`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import requests
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    BatchRunReportsRequest,
    DateRange,
    Dimension,
    Metric,
    OrderBy,
    RunReportRequest,
    RunReportResponse,
)
from google.api_core import exceptions as api
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.protobuf.json_format import ParseError

from jobs.domain import TOTAL_SERIES, Observation, PointFlag, PropertySpec
from jobs.errors import InputError, SourceAuthError, SourceError, SourceQuotaError, SourceTransientError
from jobs.sources.limits import RetryPolicy

__all__ = ["BATCH_SIZE", "OTHER_ROW", "Ga4Source", "Ga4Stats", "quota_exhausted", "translate_error"]

log = logging.getLogger(__name__)

#: Reports per ``batchRunReports`` call (the API's limit).
BATCH_SIZE = 5
#: The bucket GA4 folds rare dimension values into when a report is too large.
OTHER_ROW = "(other)"
_MAX_METRICS = 10
_QUOTAS = (
    ("tokens_per_day", "per day"),
    ("tokens_per_hour", "per hour"),
    ("tokens_per_project_per_hour", "per project per hour"),
)
_DEFAULT_RETRY = RetryPolicy()
_REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")
_RETRYABLE: tuple[type[BaseException], ...] = (
    api.InternalServerError,
    api.BadGateway,
    api.ServiceUnavailable,
    api.GatewayTimeout,
    requests.ConnectionError,
    requests.Timeout,
)

_TRANSIENT = (api.TooManyRequests, api.RetryError, requests.RequestException, *_RETRYABLE)


@dataclass
class Ga4Stats:
    """What a source spent so far: HTTP calls, reports, rows and quota tokens (per day)."""

    requests: int = 0
    reports: int = 0
    rows: int = 0
    tokens: int = 0
    remaining: dict[str, int] = field(default_factory=dict)


@dataclass
class _Page:
    dims: tuple[str, ...]
    offset: int = 0


class Ga4Source:
    """A GA4 property's metrics. ``client`` builds a ``BetaAnalyticsDataClient`` (REST
    transport, credentials, endpoint); it is called lazily, once per thread."""

    def __init__(
        self,
        *,
        client: Callable[[], BetaAnalyticsDataClient],
        today: date,
        retry: RetryPolicy = _DEFAULT_RETRY,
        min_tokens_left: int = 2000,
        page_size: int = 25_000,
        final_lag_days: int = 2,
    ) -> None:
        self._make_client = client
        self._local = threading.local()
        self.today = today
        self.policy = retry
        self.min_tokens_left = min_tokens_left
        self.page_size = page_size
        self.final_lag_days = final_lag_days
        self.stats = Ga4Stats()
        #: False once the endpoint turned out to have no batchRunReports.
        self.batches = True
        #: Per budget (``tokens_per_day``, ``tokens_per_hour``, ``tokens_per_project_per_hour``),
        #: tokens that must stay unused: the hourly watch leaves the daily run its share.
        self.reserve: dict[str, int] = {}
        self._low: tuple[int, str, int] | None = None

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        """GA4 finishes processing a day within 24-48 hours: ``today - final_lag_days``."""
        return today - timedelta(days=self.final_lag_days)

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        """Totals and each breakdown from ``start`` to ``end``, streamed page by page."""
        metrics = _metrics(spec)
        if start > end:
            raise InputError(f"GA4 {spec.id}: start {start} is after end {end}")
        last_final = self.last_final_date(spec, today=self.today)
        pending = [_Page(("date",)), *(_Page(("date", b)) for b in dict.fromkeys(spec.breakdowns))]
        while pending:
            batch, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            request = BatchRunReportsRequest(
                property=spec.id,
                requests=[self._report_request(p, metrics, start, end) for p in batch],
            )
            self._ensure_quota(spec)
            reports = self._batch(spec, request, expected=len(batch))
            for page, report in zip(batch, reports, strict=True):
                rows = yield from _observations(spec, page.dims, report, last_final)
                self.stats.rows += rows
                page.offset += rows
                if rows and page.offset < report.row_count:
                    pending.append(page)
            self._note_quota(spec, reports)

    def _report_request(self, page: _Page, metrics: Sequence[str], start: date, end: date) -> RunReportRequest:
        return RunReportRequest(
            dimensions=[Dimension(name=d) for d in page.dims],
            metrics=[Metric(name=m) for m in metrics],
            date_ranges=[DateRange(start_date=start.isoformat(), end_date=end.isoformat())],
            limit=self.page_size,
            offset=page.offset,
            # A day without sessions is a zero, not a gap: keep the total's empty rows.
            keep_empty_rows=len(page.dims) == 1,
            return_property_quota=True,
            # A stable order makes offset paging safe.
            order_bys=[OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name=d)) for d in page.dims],
        )

    def _client(self) -> BetaAnalyticsDataClient:
        client: BetaAnalyticsDataClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make_client()
        return client

    def _batch(self, spec: PropertySpec, request: BatchRunReportsRequest, *, expected: int) -> list[RunReportResponse]:
        """One ``batchRunReports`` call; where the endpoint has none (a proxy or emulator
        answering 404/501), one ``runReport`` per report from then on."""
        client, where = self._client(), f"GA4 {spec.id}"
        try:
            if self.batches:
                self.stats.requests += 1
                try:
                    response = client.batch_run_reports(
                        request=request, retry=self._retry_once(), timeout=self.policy.timeout
                    )
                    reports = list(response.reports)
                except (api.NotFound, api.MethodNotImplemented) as exc:
                    log.warning("%s: no batchRunReports here (%s); asking report by report", where, _one_line(exc))
                    self.batches = False
            if not self.batches:
                reports = []
                for each in request.requests:
                    self.stats.requests += 1
                    single = RunReportRequest(each, property=request.property)
                    reports.append(
                        client.run_report(request=single, retry=self._retry_once(), timeout=self.policy.timeout)
                    )
        except Exception as exc:
            raise translate_error(exc, where=where, account=spec.account) from exc
        if len(reports) != expected:
            raise SourceTransientError(f"{where}: malformed response: {len(reports)} reports for {expected} requests")
        self.stats.reports += len(reports)
        return reports

    def _retry_once(self) -> Retry:
        """A fresh retry for one call: api_core's Retry bounds time, not attempts, so a
        counting predicate stops after ``policy.attempts`` retries."""
        left = [self.policy.attempts]

        def predicate(exc: Exception) -> bool:
            if not _retryable(exc) or left[0] <= 0:
                return False
            left[0] -= 1
            self.stats.requests += 1
            log.warning("GA4 request failed, retrying (%d left): %s", left[0], _one_line(exc))
            return True

        policy = self.policy
        return Retry(
            predicate=predicate,
            initial=policy.initial,
            maximum=policy.maximum,
            multiplier=policy.multiplier,
            timeout=policy.deadline,
        )

    def _note_quota(self, spec: PropertySpec, reports: Sequence[RunReportResponse]) -> None:
        """Remember what the responses say is left (and what they cost)."""
        for report in reports:
            if "property_quota" not in report:
                continue
            quota = report.property_quota
            if "tokens_per_day" in quota:
                self.stats.tokens += int(quota.tokens_per_day.consumed)
            for name, label in _QUOTAS:
                if name in quota:
                    left = int(getattr(quota, name).remaining)
                    self.stats.remaining[name] = left
                    floor = max(self.min_tokens_left, self.reserve.get(name, 0))
                    if left < floor and (self._low is None or left < self._low[0]):
                        self._low = (left, label, floor)
                        log.warning("GA4 %s: only %d quota tokens %s left", spec.id, left, label)

    def _ensure_quota(self, spec: PropertySpec) -> None:
        """Stop before the next request when the last response left too few tokens."""
        if self._low is not None:
            left, label, floor = self._low
            raise SourceQuotaError(
                f"GA4 {spec.id}: only {left} quota tokens {label} left (keeping {floor} in "
                "reserve); stopped early, the next run continues"
            )


def _metrics(spec: PropertySpec) -> tuple[str, ...]:
    metrics = tuple(dict.fromkeys(spec.metrics))
    if not metrics:
        raise InputError(f"property {spec.name!r}: no metrics configured")
    if len(metrics) > _MAX_METRICS:
        raise InputError(f"property {spec.name!r}: GA4 reports take at most {_MAX_METRICS} metrics, got {len(metrics)}")
    return metrics


def _observations(
    spec: PropertySpec, dims: tuple[str, ...], report: RunReportResponse, last_final: date
) -> Generator[Observation, None, int]:
    """Yield a report page's points; return how many rows it had."""
    where = f"GA4 {spec.id}: malformed response"
    dim_names = [h.name for h in report.dimension_headers]
    metric_names = [h.name for h in report.metric_headers]
    rows = report.rows
    if not rows:
        return 0
    if sorted(dim_names) != sorted(dims) or not metric_names:
        raise SourceTransientError(f"{where}: dimension headers {dim_names} for a request of {list(dims)}")
    date_at = dim_names.index("date")
    breakdown = dims[1] if len(dims) > 1 else None
    child_at = dim_names.index(breakdown) if breakdown else -1
    flags = PointFlag.NONE
    if report.metadata.subject_to_thresholding:
        flags |= PointFlag.THRESHOLDED
    if len(report.metadata.sampling_metadatas):
        flags |= PointFlag.SAMPLED
    for row in rows:
        dim_values, metric_values = row.dimension_values, row.metric_values
        if len(dim_values) != len(dim_names) or len(metric_values) != len(metric_names):
            raise SourceTransientError(f"{where}: a row does not match the headers {dim_names + metric_names}")
        day = _day(dim_values[date_at].value, where)
        row_flags = flags | (PointFlag.INCOMPLETE if day > last_final else PointFlag.NONE)
        if breakdown is None:
            series = TOTAL_SERIES
        else:
            value = dim_values[child_at].value
            series = f"{breakdown}:{value}"
            if value == OTHER_ROW:
                row_flags |= PointFlag.OTHER_ROW
        for metric, cell in zip(metric_names, metric_values, strict=True):
            yield Observation(spec.name, series, metric, day, _number(cell.value, where), row_flags)
    return len(rows)


def _day(text: str, where: str) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise SourceTransientError(f"{where}: date {text!r} is not YYYYMMDD") from None


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SourceTransientError(f"{where}: metric value {text!r} is not a number") from None


def quota_exhausted(exc: api.GoogleAPICallError) -> bool:
    """A 429 that waiting seconds will not fix: property/project tokens or the server-error budget."""
    message = (exc.message or "").lower()
    return "exhausted" in message and "concurrent" not in message


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, api.TooManyRequests):
        return not quota_exhausted(exc)
    return isinstance(exc, _RETRYABLE)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, api.GoogleAPICallError):
        # The REST transport prefixes "POST https://host/v1beta/...: "; the status says enough.
        text = f"{exc.code} {_REQUEST_PREFIX.sub('', exc.message or '')}"
    elif isinstance(exc, auth_exceptions.GoogleAuthError) and exc.args and isinstance(exc.args[0], str):
        text = exc.args[0]  # "invalid_grant: Token has been expired or revoked."
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def translate_error(exc: Exception, *, where: str, account: str) -> SourceError:
    """The :class:`jobs.errors.SourceError` a GA4 (or Admin API) failure means for the user."""
    if isinstance(exc, SourceError):  # already ours (e.g. an account that needs re-authorisation)
        return exc
    detail = _one_line(exc)
    if isinstance(exc, api.RetryError) and exc.cause is not None:
        detail = _one_line(exc.cause)
    rejected = f"{where}: Google rejected the credentials of account {account!r}: {detail}"
    kind: type[SourceError]
    if isinstance(exc, auth_exceptions.RefreshError) and not getattr(exc, "retryable", False):
        kind, message = SourceAuthError, rejected
    elif isinstance(exc, auth_exceptions.GoogleAuthError):
        kind, message = SourceTransientError, f"{where}: the token endpoint failed: {detail}"
    elif isinstance(exc, api.Unauthorized):
        kind, message = SourceAuthError, rejected
    elif isinstance(exc, api.Forbidden | api.PermissionDenied):
        kind, message = SourceError, f"{where}: account {account!r} has no access: {detail}"
    elif isinstance(exc, api.TooManyRequests | api.ResourceExhausted) and quota_exhausted(exc):
        kind, message = SourceQuotaError, f"{where}: quota exhausted, the next run continues: {detail}"
    elif isinstance(exc, _TRANSIENT):
        kind, message = SourceTransientError, f"{where}: still failing after retries: {detail}"
    elif isinstance(exc, api.GoogleAPICallError):
        kind, message = SourceError, f"{where}: request rejected: {detail}"
    elif isinstance(exc, ParseError | ValueError | KeyError | TypeError):  # an unparsable body
        kind, message = SourceTransientError, f"{where}: malformed response: {detail}"
    else:
        kind, message = SourceError, f"{where}: unexpected failure: {detail}"
    return kind(message)
