"""Building the Google sources: clients, endpoints, limits (part of the composition root).

Clients are created lazily inside the process that uses them (never at import time, never
before a fork): :class:`jobs.sources.ga4.Ga4Source` and :class:`jobs.sources.gsc.GscSource`
receive factories and call them once per thread. GA4 uses the REST transport (gRPC hangs
in forked Celery workers); Search Console uses the bundled discovery document
(``static_discovery=True``), so building a service needs no network.

``[google] ga4_endpoint`` / ``gsc_endpoint`` / ``token_uri`` / ``admin_endpoint``
redirect every call (proxies, emulators, the test suite's local fakes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import google_auth_httplib2
import httplib2
import sqlalchemy as sa
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.api_core.client_options import ClientOptions
from googleapiclient import discovery
from googleapiclient.http import HttpRequest

from jobs.domain import PropertySpec
from jobs.sources.ga4 import Ga4Source
from jobs.sources.ga4_hourly import Ga4HourlySource, reserve_for
from jobs.sources.gsc import GscSource
from jobs.sources.gsc_hourly import GscHourlySource, hourly_share
from jobs.sources.limits import RateLimiter, RetryPolicy, TtlMemo
from worker.google.auth import Credentials, credentials_factory
from worker.settings import Settings

__all__ = [
    "ga4_client_factory",
    "ga4_hourly_source",
    "ga4_source",
    "gsc_hourly_source",
    "gsc_service_factory",
    "gsc_source",
    "retry_policy",
    "shared_hourly_limiter",
    "shared_limiter",
]

_lock = threading.Lock()
_limiters: dict[int, RateLimiter] = {}
_hourly_limiters: dict[int, RateLimiter] = {}
#: Search Console's last final day per endpoint and (site, today), shared within a process.
_freshness: dict[str, TtlMemo[tuple[str, date], date]] = {}


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.google.max_retries, timeout=settings.google.timeout_seconds)


def shared_limiter(settings: Settings) -> RateLimiter:
    """The process's Search Console limiter (per site and per account, per minute)."""
    rate = settings.google.gsc_queries_per_minute
    with _lock:
        if rate not in _limiters:
            _limiters[rate] = RateLimiter(rate=rate, per=60.0)
        return _limiters[rate]


def shared_hourly_limiter(settings: Settings) -> RateLimiter:
    """The process's budget for the hourly watch's Search Console queries: at most what
    ``[hourly] gsc_reserve_share`` leaves of the per-minute limit (see :mod:`jobs.sources.gsc_hourly`)."""
    rate = hourly_share(settings.google.gsc_queries_per_minute, settings.hourly.gsc_reserve_share)
    with _lock:
        return _hourly_limiters.setdefault(rate, RateLimiter(rate=rate, per=60.0))


def _freshness_memo(settings: Settings) -> TtlMemo[tuple[str, date], date]:
    with _lock:
        return _freshness.setdefault(settings.google.gsc_endpoint, TtlMemo(ttl=3600.0))


def ga4_client_factory(
    settings: Settings, credentials: Callable[[], Credentials]
) -> Callable[[], BetaAnalyticsDataClient]:
    endpoint = settings.google.ga4_endpoint
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None

    def build() -> BetaAnalyticsDataClient:
        return BetaAnalyticsDataClient(transport="rest", credentials=credentials(), client_options=options)

    return build


def gsc_service_factory(
    settings: Settings,
    credentials: Callable[[], Credentials],
    *,
    request_builder: type[HttpRequest] = HttpRequest,
) -> Callable[[], Any]:
    """Builds a searchconsole v1 service; ``request_builder`` lets tests skip back-off sleeps."""
    endpoint = settings.google.gsc_endpoint
    options = {"api_endpoint": endpoint} if endpoint else None
    timeout = settings.google.timeout_seconds

    def build() -> Any:
        http = google_auth_httplib2.AuthorizedHttp(credentials(), http=httplib2.Http(timeout=timeout))
        return discovery.build(
            "searchconsole",
            "v1",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            requestBuilder=request_builder,
            client_options=options,
        )

    return build


def ga4_source(
    settings: Settings, spec: PropertySpec, *, today: date, engine: sa.Engine, retry: RetryPolicy | None = None
) -> Ga4Source:
    credentials = credentials_factory(settings, engine, spec.account)
    return Ga4Source(
        client=ga4_client_factory(settings, credentials),
        today=today,
        retry=retry or retry_policy(settings),
        min_tokens_left=settings.google.ga4_min_tokens_left,
    )


def gsc_source(
    settings: Settings,
    spec: PropertySpec,
    *,
    today: date,
    engine: sa.Engine,
    request_builder: type[HttpRequest] = HttpRequest,
    limiter: RateLimiter | None = None,
) -> GscSource:
    credentials = credentials_factory(settings, engine, spec.account)
    return GscSource(
        service=gsc_service_factory(settings, credentials, request_builder=request_builder),
        today=today,
        limiter=limiter or shared_limiter(settings),
        retries=settings.google.max_retries,
        freshness=_freshness_memo(settings),
    )


def ga4_hourly_source(
    settings: Settings, spec: PropertySpec, *, today: date, engine: sa.Engine, retry: RetryPolicy | None = None
) -> Ga4HourlySource:
    """The hourly watch's GA4 source: the daily source's client and guard, with the daily
    run's share of every token budget held in reserve (``[hourly] ga4_reserve_share``)."""
    credentials = credentials_factory(settings, engine, spec.account)
    source = Ga4HourlySource(
        client=ga4_client_factory(settings, credentials),
        today=today,
        retry=retry or retry_policy(settings),
        min_tokens_left=settings.google.ga4_min_tokens_left,
    )
    source.reserve = dict(reserve_for(settings.hourly.ga4_reserve_share, tier=settings.hourly.ga4_quota_tier))
    return source


def gsc_hourly_source(
    settings: Settings,
    spec: PropertySpec,
    *,
    today: date,
    engine: sa.Engine,
    request_builder: type[HttpRequest] = HttpRequest,
    limiter: RateLimiter | None = None,
    hourly_limiter: RateLimiter | None = None,
) -> GscHourlySource:
    """The hourly watch's Search Console source: the daily source's service and limiter,
    plus a budget of its own that leaves ``[hourly] gsc_reserve_share`` to the daily run."""
    credentials = credentials_factory(settings, engine, spec.account)
    return GscHourlySource(
        service=gsc_service_factory(settings, credentials, request_builder=request_builder),
        today=today,
        limiter=limiter or shared_limiter(settings),
        hourly_limiter=hourly_limiter or shared_hourly_limiter(settings),
        retries=settings.google.max_retries,
        freshness=_freshness_memo(settings),
    )
