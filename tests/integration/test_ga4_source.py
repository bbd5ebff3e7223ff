"""The GA4 source against a local fake Data API, through the real google-analytics-data
client (REST transport): batches, paging, retries, quota, quirks and malformed answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.domain import Observation, PointFlag
from jobs.errors import SourceAuthError, SourceError, SourceQuotaError, SourceTransientError
from jobs.sources.ga4 import Ga4Source
from jobs.sources.limits import RetryPolicy
from tests.fakes.google import google_error
from tests.fakes.google_ga4 import Ga4Property
from tests.fakes.google_world import GoogleWorld
from worker import bootstrap
from worker.google.auth import credentials_factory
from worker.google.clients import ga4_client_factory
from worker.settings import Settings, load_settings

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
DAYS = [TODAY - timedelta(days=n) for n in range(7, 0, -1)]  # 3 Mar .. 9 Mar
FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.02, timeout=10.0)
CHANNELS = ("Organic Search", "Direct", "Email")
PAGES = ("/", "/pricing", "/blog/launch", "/signup")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


def _populate(prop: Ga4Property) -> None:
    for d, day in enumerate(DAYS):
        for c, channel in enumerate(CHANNELS):
            for p, page in enumerate(PAGES):
                device = "mobile" if (c + p) % 2 else "desktop"
                dims = {"sessionDefaultChannelGroup": channel, "landingPage": page, "deviceCategory": device}
                prop.add(day, dims, sessions=10 * c + p + d, keyEvents=(c + p + d) % 3, totalUsers=5 + c)


def _settings(world: GoogleWorld, *, breakdowns: tuple[str, ...], metrics: tuple[str, ...]) -> Settings:
    prop = {
        "name": "shop",
        "source": "ga4",
        "id": "properties/123",
        "account": "agency",
        "timezone": "Europe/Berlin",
        "metrics": list(metrics),
        "breakdowns": list(breakdowns),
    }
    return load_settings(world.write_config(properties=[prop]))


def _source(settings: Settings, **options: Any) -> Ga4Source:
    credentials = credentials_factory(settings, bootstrap.engine(settings), "agency")
    return Ga4Source(client=ga4_client_factory(settings, credentials), today=TODAY, retry=FAST, **options)


def _expected(prop: Ga4Property, breakdowns: tuple[str, ...], metrics: tuple[str, ...]) -> dict[tuple[Any, ...], float]:
    out: dict[tuple[Any, ...], float] = {}
    for day, dims, numbers in prop.facts:
        for series in ("total", *(f"{b}:{dims[b]}" for b in breakdowns)):
            for metric in metrics:
                key = (day, series, metric)
                out[key] = out.get(key, 0.0) + numbers[metric]
    return out


def _by_key(observations: list[Observation]) -> dict[tuple[Any, ...], float]:
    keyed = {(o.day, o.series, o.metric): o.value for o in observations}
    assert len(keyed) == len(observations), "a point was served twice"
    return keyed


def test_totals_and_three_breakdowns_in_one_batch_exactly_as_served(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123")
    _populate(prop)
    breakdowns = ("sessionDefaultChannelGroup", "landingPage", "deviceCategory")
    metrics = ("sessions", "keyEvents")
    settings = _settings(world, breakdowns=breakdowns, metrics=metrics)
    spec = settings.property("shop").spec()
    source = _source(settings)

    observations = list(source.fetch(spec, start=DAYS[0], end=DAYS[-1]))

    assert _by_key(observations) == _expected(prop, breakdowns, metrics)
    assert {o.series for o in observations} >= {"total", "sessionDefaultChannelGroup:Organic Search", "landingPage:/"}
    # One HTTP request carried the four reports, each asking for the property quota.
    assert world.ga4.count(":batchRunReports") == 1
    reports = world.ga4.reports
    assert [[d["name"] for d in r["dimensions"]] for r in reports] == [["date"], *(["date", b] for b in breakdowns)]
    assert all(r["returnPropertyQuota"] is True and r["limit"] == "25000" for r in reports)
    assert all(r["dateRanges"] == [{"startDate": "2026-03-03", "endDate": "2026-03-09"}] for r in reports)
    # Days after the last final day (today - 2) are flagged incomplete, the others are not.
    assert source.last_final_date(spec, today=TODAY) == date(2026, 3, 8)
    assert {o.day for o in observations if o.flags & PointFlag.INCOMPLETE} == {date(2026, 3, 9)}
    assert {o.flags for o in observations if o.day < date(2026, 3, 9)} == {PointFlag.NONE}
    assert source.stats.requests == 1
    assert source.stats.tokens == prop.tokens_used > 0  # as the fake charged them


def test_pages_by_offset_and_batches_the_next_pages_together(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123")
    _populate(prop)
    breakdowns = ("sessionDefaultChannelGroup", "landingPage")
    settings = _settings(world, breakdowns=breakdowns, metrics=("sessions",))
    spec = settings.property("shop").spec()

    observations = list(_source(settings, page_size=5).fetch(spec, start=DAYS[0], end=DAYS[-1]))

    assert _by_key(observations) == _expected(prop, breakdowns, ("sessions",))
    # 7 total rows, 21 channel rows, 28 page rows: pages of 5 rows, three reports per batch.
    offsets = [(len(r["dimensions"]), r.get("offset", "0")) for r in world.ga4.reports]
    assert offsets[:3] == [(1, "0"), (2, "0"), (2, "0")]
    assert sorted(o for n, o in offsets if n == 1) == ["0", "5"]
    assert len([o for n, o in offsets if n == 2]) == 5 + 6
    assert world.ga4.count(":batchRunReports") == 6


def test_more_than_five_reports_take_two_batches(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123")
    _populate(prop)
    breakdowns = ("sessionDefaultChannelGroup", "landingPage", "deviceCategory", "country", "pagePath")
    settings = _settings(world, breakdowns=breakdowns, metrics=("sessions",))
    spec = settings.property("shop").spec()

    list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))

    batches = [r.body["requests"] for r in world.ga4.requests]
    assert [len(b) for b in batches] == [5, 1]


def test_quirks_become_point_flags(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123", thresholded=True, sampled=True, other_after=2)
    _populate(prop)
    settings = _settings(world, breakdowns=("landingPage",), metrics=("sessions",))
    spec = settings.property("shop").spec()

    observations = list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[1]))

    other = [o for o in observations if o.series == "landingPage:(other)"]
    assert other
    assert all(o.flags & PointFlag.OTHER_ROW for o in other)
    assert not any(o.flags & PointFlag.OTHER_ROW for o in observations if o not in other)
    assert all(o.flags & PointFlag.THRESHOLDED and o.flags & PointFlag.SAMPLED for o in observations)
    # The (other) bucket still adds up: kept pages plus (other) equal the total.
    day_one = [o for o in observations if o.day == DAYS[0]]
    total = next(o.value for o in day_one if o.series == "total")
    assert sum(o.value for o in day_one if o.series.startswith("landingPage:")) == total


def test_an_empty_property_yields_nothing(world: GoogleWorld) -> None:
    world.ga4.add_property("123")
    settings = _settings(world, breakdowns=("landingPage",), metrics=("sessions",))
    spec = settings.property("shop").spec()
    assert list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1])) == []
    # The fake omitted rows and rowCount, as proto3 JSON does for empty reports.
    assert world.ga4.count() == 1


@pytest.mark.parametrize(
    "failure",
    [
        (429, google_error(429, "Exhausted concurrent requests quota.", "RESOURCE_EXHAUSTED")),
        (503, google_error(503, "The service is currently unavailable.", "UNAVAILABLE")),
        (500, google_error(500, "Internal error encountered.", "INTERNAL")),
        (502, b"<html>Bad Gateway</html>"),
    ],
)
def test_retries_transient_failures_then_succeeds(world: GoogleWorld, failure: tuple[int, Any]) -> None:
    prop = world.ga4.add_property("123")
    _populate(prop)
    settings = _settings(world, breakdowns=(), metrics=("sessions",))
    spec = settings.property("shop").spec()
    world.ga4.fail(*failure, times=2)

    observations = list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))

    assert len(observations) == len(DAYS)
    assert world.ga4.count(":batchRunReports") == 3


def test_gives_up_after_the_retries_with_a_transient_error(world: GoogleWorld) -> None:
    world.ga4.add_property("123")
    settings = _settings(world, breakdowns=(), metrics=("sessions",))
    spec = settings.property("shop").spec()
    world.ga4.fail(503, google_error(503, "The service is currently unavailable.", "UNAVAILABLE"), times=10)

    with pytest.raises(SourceTransientError, match=r"GA4 properties/123: still failing after retries: 503"):
        list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))
    assert world.ga4.count() == 1 + FAST.attempts


def test_exhausted_quota_is_not_retried(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123", tokens_per_day=0)
    _populate(prop)
    settings = _settings(world, breakdowns=(), metrics=("sessions",))
    spec = settings.property("shop").spec()

    with pytest.raises(SourceQuotaError, match=r"quota exhausted, the next run continues: 429 Exhausted property"):
        list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))
    assert world.ga4.count() == 1


def test_stops_before_the_quota_runs_out_and_keeps_what_it_read(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123", tokens_per_hour=2004)  # the first batch costs 5
    _populate(prop)
    settings = _settings(world, breakdowns=("landingPage",), metrics=("sessions",))
    spec = settings.property("shop").spec()
    source = _source(settings, page_size=5, min_tokens_left=2000)
    read: list[Observation] = []

    with pytest.raises(SourceQuotaError, match=r"quota tokens per hour left \(keeping 2000 in reserve\)"):
        read.extend(source.fetch(spec, start=DAYS[0], end=DAYS[-1]))

    assert world.ga4.count() == 1  # the next page was not asked for
    assert len(read) == 10  # the first page of each report
    assert source.stats.remaining["tokens_per_hour"] < 2000


def test_permission_denied_is_not_retried(world: GoogleWorld) -> None:
    settings = _settings(world, breakdowns=(), metrics=("sessions",))  # no property 123 on the fake
    spec = settings.property("shop").spec()
    with pytest.raises(SourceError, match=r"account 'agency' has no access: 403 User does not have") as caught:
        list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))
    assert type(caught.value) is SourceError
    assert world.ga4.count() == 1


def test_an_invalid_metric_is_reported_in_one_line(world: GoogleWorld) -> None:
    world.ga4.add_property("123")
    settings = _settings(world, breakdowns=(), metrics=("sessions", "conversionz"))
    spec = settings.property("shop").spec()
    with pytest.raises(SourceError, match=r"request rejected: 400 Field conversionz is not a valid metric"):
        list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))


def _report(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "dimensionHeaders": [{"name": "date"}],
        "metricHeaders": [{"name": "sessions"}],
        "rows": [row],
        "rowCount": 1,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json",
        {"reports": []},
        {"reports": [_report({"dimensionValues": [{"value": "20260303"}]})]},
        {"reports": [_report({"dimensionValues": [{"value": "2026-03-03"}], "metricValues": [{"value": "1"}]})]},
        {"reports": [_report({"dimensionValues": [{"value": "20260303"}], "metricValues": [{"value": "n/a"}]})]},
    ],
    ids=["not-json", "no-reports", "row-without-metrics", "bad-date", "bad-number"],
)
def test_malformed_responses_fail_in_one_line(world: GoogleWorld, body: Any) -> None:
    world.ga4.add_property("123")
    settings = _settings(world, breakdowns=(), metrics=("sessions",))
    spec = settings.property("shop").spec()
    world.ga4.fail(200, body)
    with pytest.raises(SourceTransientError, match=r"^GA4 properties/123: malformed response: ") as caught:
        list(_source(settings).fetch(spec, start=DAYS[0], end=DAYS[-1]))
    assert "\n" not in str(caught.value)


def test_oauth_user_with_a_revoked_token_is_an_auth_error(world: GoogleWorld) -> None:
    from cryptography.fernet import Fernet

    from jobs.storage import accounts
    from tests.fakes.google_world import SECRET_KEY

    world.ga4.add_property("123")
    token = world.oauth.add_refresh_token()
    world.oauth.revoke(token)
    prop = {"name": "shop", "source": "ga4", "id": "properties/123", "account": "client", "metrics": ["sessions"]}
    settings = load_settings(world.write_config(properties=[prop], accounts=[{"name": "client", "kind": "oauth"}]))
    engine = bootstrap.engine(settings)
    encrypted = Fernet(SECRET_KEY.encode()).encrypt(token.encode()).decode()
    accounts.save_token(engine, "client", refresh_token=encrypted, client_id="client-1", scopes=(), now=NOW)
    credentials = credentials_factory(settings, engine, "client")
    source = Ga4Source(client=ga4_client_factory(settings, credentials), today=TODAY, retry=FAST)

    with pytest.raises(SourceAuthError, match=r"credentials of account 'client': invalid_grant: Token has been"):
        list(source.fetch(settings.property("shop").spec(), start=DAYS[0], end=DAYS[-1]))
    assert world.ga4.count() == 0
    assert world.oauth.grants("refresh_token") == 1


def test_an_endpoint_without_batches_is_asked_report_by_report(world: GoogleWorld) -> None:
    prop = world.ga4.add_property("123")
    _populate(prop)
    world.ga4.batches = False
    breakdowns = ("sessionDefaultChannelGroup", "landingPage")
    settings = _settings(world, breakdowns=breakdowns, metrics=("sessions",))
    spec = settings.property("shop").spec()
    source = _source(settings, page_size=10)

    observations = list(source.fetch(spec, start=DAYS[0], end=DAYS[-1]))

    assert _by_key(observations) == _expected(prop, breakdowns, ("sessions",))
    assert world.ga4.count(":batchRunReports") == 1  # asked once, then not again
    assert world.ga4.count(":runReport") == 1 + 3 + 3  # total 7 rows, channels 21, pages 28: pages of 10
    assert world.ga4.count("/v1beta/properties/123:runReport") == 7


def test_an_unreachable_endpoint_is_retried_then_transient(world: GoogleWorld) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    prop = {"name": "shop", "source": "ga4", "id": "properties/123", "account": "agency", "metrics": ["sessions"]}
    settings = load_settings(world.write_config(properties=[prop], google={"ga4_endpoint": f"http://127.0.0.1:{port}"}))
    source = _source(settings)
    with pytest.raises(SourceTransientError, match=r"still failing after retries: ConnectionError"):
        list(source.fetch(settings.property("shop").spec(), start=DAYS[0], end=DAYS[-1]))
    assert source.stats.requests == 1 + FAST.attempts
