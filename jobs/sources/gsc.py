"""Google Search Console through ``google-api-python-client`` (searchconsole v1).

:class:`GscSource` implements :class:`jobs.ports.MetricSource`. It queries one day at a
time (Google's advice for complete data): the total (dimension ``date``) and then each
configured breakdown, paging by ``startRow`` in steps of 25,000 until a page comes back
empty. Series are ``"total"`` and ``"{dimension}:{value}"`` (``"page:https://..."``,
``"query:running shoes"``); clicks, impressions and position are stored exactly as
served (``ctr`` is derived downstream from clicks / impressions).

Freshness: :meth:`GscSource.last_final_date` asks for the last days with
``dataState: "all"`` and reads ``metadata.firstIncompleteDate`` (Search Console dates are
Pacific time). Final days are then queried with ``dataState: "final"``, later ones with
``"all"`` and flagged INCOMPLETE.

Limits: every request first passes the shared :class:`RateLimiter` (per site and per
account); ``execute(num_retries=...)`` retries 429, 5xx, timeouts and rate-limit 403s with
exponential back-off. What still fails is translated into one-line
:class:`jobs.errors.SourceError` subclasses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import Error as ClientError
from googleapiclient.errors import HttpError

from jobs.domain import TOTAL_SERIES, Observation, PointFlag, PropertySpec
from jobs.errors import InputError, SourceAuthError, SourceError, SourceQuotaError, SourceTransientError
from jobs.sources.limits import RateLimiter, TtlMemo
from jobs.sources.names import GSC_DIMENSIONS, GSC_METRICS

__all__ = ["DIMENSIONS", "METRICS", "ROW_LIMIT", "GscSource", "GscStats", "translate_error"]

log = logging.getLogger(__name__)

DIMENSIONS = GSC_DIMENSIONS
METRICS = GSC_METRICS
#: Rows per page (the API's maximum).
ROW_LIMIT = 25_000
_NUMBERS = frozenset({int, float})
_QUOTA_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"})


@dataclass
class GscStats:
    """What a source spent so far: HTTP requests and rows read."""

    requests: int = 0
    rows: int = 0


class GscSource:
    """A Search Console site's metrics. ``service`` builds a searchconsole v1 service
    object; it is called lazily, once per thread (httplib2 is not thread-safe)."""

    def __init__(
        self,
        *,
        service: Callable[[], Any],
        today: date,
        limiter: RateLimiter | None = None,
        retries: int = 5,
        freshness: TtlMemo[tuple[str, date], date] | None = None,
        search_type: str = "web",
        probe_days: int = 10,
        fallback_lag_days: int = 3,
    ) -> None:
        self._make_service = service
        self._local = threading.local()
        self.today = today
        self.limiter = limiter
        self.retries = retries
        self.freshness = freshness if freshness is not None else TtlMemo(ttl=3600.0)
        self.search_type = search_type
        self.probe_days = probe_days
        self.fallback_lag_days = fallback_lag_days
        self.stats = GscStats()

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        """The day before ``metadata.firstIncompleteDate`` (asked with ``dataState: "all"``);
        when nothing is incomplete, the newest day with data; with no data at all,
        ``today - fallback_lag_days``. Remembered for an hour per site and day."""
        known = self.freshness.get((spec.id, today))
        if known is not None:
            return known
        body = self._body(today - timedelta(days=self.probe_days), today, ["date"], state="all")
        response = self._query(spec, body)
        first_incomplete = _metadata_date(response, spec)
        days = [_row_day(row, spec) for row in _rows(response, spec)]
        if first_incomplete is not None:
            last = first_incomplete - timedelta(days=1)
        elif days:
            last = max(days)
        else:
            last = today - timedelta(days=self.fallback_lag_days)
        self.freshness.put((spec.id, today), last)
        return last

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        """Every day from ``start`` to ``end``: the total, then each breakdown, page by page."""
        metrics = stored_metrics(spec)
        dims = breakdowns(spec)
        if start > end:
            raise InputError(f"Search Console {spec.id}: start {start} is after end {end}")
        last_final = self.last_final_date(spec, today=self.today)
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            yield from self._day(spec, day, metrics, dims, final=day <= last_final)

    def _day(
        self, spec: PropertySpec, day: date, metrics: tuple[str, ...], dims: tuple[str, ...], *, final: bool
    ) -> Iterator[Observation]:
        name = spec.name
        for dim in (None, *dims):
            prefix = f"{dim}:"
            for rows, flags in self._pages(spec, day, dim, final=final):
                for row in rows:
                    row_day = _row_day(row, spec) if dim is None else day
                    series = TOTAL_SERIES if dim is None else prefix + _key(row, spec)
                    for metric in metrics:
                        value = _value(row, metric, spec)
                        if value is not None:
                            yield Observation(name, series, metric, row_day, value, flags)

    def _pages(
        self, spec: PropertySpec, day: date, dim: str | None, *, final: bool
    ) -> Iterator[tuple[list[Mapping[str, Any]], PointFlag]]:
        """The pages of one day's total (``dim`` None: one row, no paging) or breakdown,
        each with the flags its points get."""
        start_row, first_key = 0, None
        while True:
            body = self._body(day, day, [dim or "date"], state="final" if final else "all", start_row=start_row)
            response = self._query(spec, body)
            rows = _rows(response, spec)
            if not rows:
                return
            if dim is not None and start_row and rows[0].get("keys") == first_key:
                log.warning("Search Console %s: startRow %d repeated the previous page; stopped", spec.id, start_row)
                return  # a server ignoring startRow would otherwise be paged forever
            first_key = rows[0].get("keys")
            first_incomplete = _metadata_date(response, spec)
            incomplete = not final or (first_incomplete is not None and first_incomplete <= day)
            self.stats.rows += len(rows)
            yield rows, PointFlag.INCOMPLETE if incomplete else PointFlag.NONE
            if dim is None:
                return  # one row per day: nothing to page
            start_row += ROW_LIMIT

    def _body(self, start: date, end: date, dims: list[str], *, state: str, start_row: int = 0) -> dict[str, object]:
        body: dict[str, object] = {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "dimensions": dims,
            "type": self.search_type,
            "dataState": state,
            "rowLimit": ROW_LIMIT,
        }
        if start_row:
            body["startRow"] = start_row
        return body

    def _service(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            service = self._local.service = self._make_service()
        return service

    def _query(self, spec: PropertySpec, body: Mapping[str, object]) -> Mapping[str, Any]:
        if self.limiter is not None:
            self.limiter.acquire(("site", spec.id), ("account", spec.account))
        self.stats.requests += 1
        try:
            request = self._service().searchanalytics().query(siteUrl=spec.id, body=dict(body))
            response = request.execute(num_retries=self.retries)
        except Exception as exc:
            raise translate_error(exc, where=f"Search Console {spec.id}", account=spec.account) from exc
        if not isinstance(response, Mapping):
            raise SourceTransientError(f"Search Console {spec.id}: malformed response: not a JSON object")
        return response


def stored_metrics(spec: PropertySpec) -> tuple[str, ...]:
    """The metrics to store for ``spec`` (``ctr`` asks for clicks and impressions)."""
    unknown = [m for m in spec.metrics if m not in METRICS]
    if unknown:
        raise InputError(
            f"property {spec.name!r}: Search Console has no metric {unknown[0]!r} (choose from {', '.join(METRICS)})"
        )
    wanted = set(spec.metrics) | ({"clicks", "impressions"} if "ctr" in spec.metrics else set())
    stored = tuple(m for m in ("clicks", "impressions", "position") if m in wanted)
    if not stored:
        raise InputError(f"property {spec.name!r}: no metrics configured")
    return stored


def breakdowns(spec: PropertySpec) -> tuple[str, ...]:
    unknown = [d for d in spec.breakdowns if d not in DIMENSIONS]
    if unknown:
        raise InputError(
            f"property {spec.name!r}: Search Console has no dimension {unknown[0]!r} "
            f"(choose from {', '.join(DIMENSIONS)})"
        )
    return tuple(dict.fromkeys(spec.breakdowns))


def _malformed(spec: PropertySpec, what: str) -> SourceTransientError:
    return SourceTransientError(f"Search Console {spec.id}: malformed response: {what}")


def _rows(response: Mapping[str, Any], spec: PropertySpec) -> list[Mapping[str, Any]]:
    rows = response.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise _malformed(spec, "rows is not a list of objects")
    return rows


def _key(row: Mapping[str, Any], spec: PropertySpec) -> str:
    keys = row.get("keys")
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], str):
        raise _malformed(spec, f"row keys {keys!r} do not match the one dimension asked for")
    return keys[0]


def _parse_day(text: object, spec: PropertySpec) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise _malformed(spec, f"{text!r} is not a YYYY-MM-DD date") from None


def _row_day(row: Mapping[str, Any], spec: PropertySpec) -> date:
    return _parse_day(_key(row, spec), spec)


def _metadata_date(response: Mapping[str, Any], spec: PropertySpec) -> date | None:
    metadata = response.get("metadata")
    if not isinstance(metadata, Mapping) or "firstIncompleteDate" not in metadata:
        return None
    return _parse_day(metadata["firstIncompleteDate"], spec)


def _value(row: Mapping[str, Any], metric: str, spec: PropertySpec) -> float | None:
    """The row's ``metric`` as served; None when the row does not carry it."""
    value = row.get(metric)
    if value is None:
        return None
    if type(value) not in _NUMBERS:  # JSON numbers only: not bool, not "12"
        raise _malformed(spec, f"{metric} {value!r} is not a number")
    return float(value)


def _reasons(exc: HttpError) -> set[str]:
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error", {})
    except (ValueError, AttributeError, UnicodeDecodeError):
        return set()
    details = [*error.get("errors", []), *error.get("details", [])] if isinstance(error, dict) else []
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")}


def _http_error(exc: HttpError, account: str) -> tuple[type[SourceError], str]:
    status, detail = exc.status_code, f"{exc.status_code} {' '.join(str(exc.reason).split())[:300]}"
    if status == 401:
        return SourceAuthError, f"Google rejected the credentials of account {account!r}: {detail}"
    if status == 429 or (status == 403 and _reasons(exc) & _QUOTA_REASONS):
        return SourceQuotaError, f"quota exceeded, the next run continues: {detail}"
    if status == 403:
        return SourceError, f"account {account!r} has no access: {detail}"
    if status >= 500:
        return SourceTransientError, f"still failing after retries: {detail}"
    return SourceError, f"request rejected: {detail}"


def translate_error(exc: Exception, *, where: str, account: str) -> SourceError:
    """The :class:`jobs.errors.SourceError` a Search Console failure means for the user."""
    if isinstance(exc, SourceError):  # already ours (e.g. an account that needs re-authorisation)
        return exc
    kind: type[SourceError]
    if isinstance(exc, HttpError):
        kind, message = _http_error(exc, account)
        return kind(f"{where}: {message}")
    if isinstance(exc, auth_exceptions.GoogleAuthError) and exc.args and isinstance(exc.args[0], str):
        detail = exc.args[0]  # "invalid_grant: Token has been expired or revoked."
    else:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    if isinstance(exc, auth_exceptions.RefreshError) and not getattr(exc, "retryable", False):
        kind, message = SourceAuthError, f"Google rejected the credentials of account {account!r}: {detail}"
    elif isinstance(exc, auth_exceptions.GoogleAuthError):
        kind, message = SourceTransientError, f"the token endpoint failed: {detail}"
    elif isinstance(exc, OSError | httplib2.HttpLib2Error):
        kind, message = SourceTransientError, f"unreachable after retries: {detail}"
    elif isinstance(exc, ValueError):
        kind, message = SourceTransientError, f"malformed response: {detail}"
    elif isinstance(exc, ClientError):
        kind, message = SourceError, f"client error: {detail}"
    else:
        kind, message = SourceError, f"unexpected failure: {detail}"
    return kind(f"{where}: {message}")
