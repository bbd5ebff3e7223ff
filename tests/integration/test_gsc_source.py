"""The Search Console source against a local fake API, through the real
google-api-python-client: one day at a time, startRow paging, data states, retries,
quota, URL-encoded site URLs and malformed answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.domain import Observation, PointFlag
from jobs.errors import InputError, SourceAuthError, SourceError, SourceQuotaError, SourceTransientError
from jobs.sources.gsc import GscSource
from jobs.sources.limits import RateLimiter
from tests.fakes.google import google_error
from tests.fakes.google_gsc import GscSite, synthetic_row
from tests.fakes.google_world import GoogleWorld, NoSleepRequest
from worker import bootstrap
from worker.google.clients import gsc_source
from worker.settings import Settings, load_settings

TODAY = date(2026, 3, 10)
DAYS = [TODAY - timedelta(days=n) for n in range(7, 0, -1)]  # 3 Mar .. 9 Mar
FINAL_THROUGH = date(2026, 3, 7)
SITE = "sc-domain:shop.example"
QUERIES = ("running shoes", "trail shoes", "shoe size guide")
PAGES = ("https://shop.example/", "https://shop.example/shoes?colour=red&size=42", "https://shop.example/ü")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


def _populate(site: GscSite) -> None:
    for d, day in enumerate(DAYS):
        for q, query in enumerate(QUERIES):
            for p, page in enumerate(PAGES):
                clicks = float(q * 3 + p + d)
                site.add(
                    day,
                    {"query": query, "page": page},
                    clicks=clicks,
                    impressions=clicks * 10 + 7,
                    position=1.5 + q + p,
                )


def _settings(
    world: GoogleWorld, *, site: str = SITE, breakdowns: tuple[str, ...] = ("query", "page"), **extra: Any
) -> Settings:
    prop = {"name": "search", "source": "gsc", "id": site, "account": "agency", "breakdowns": list(breakdowns)} | extra
    return load_settings(world.write_config(properties=[prop]))


def _source(settings: Settings, **options: Any) -> GscSource:
    spec = settings.property("search").spec()
    return gsc_source(
        settings, spec, today=TODAY, engine=bootstrap.engine(settings), request_builder=NoSleepRequest, **options
    )


def _fetch(settings: Settings, start: date = DAYS[0], end: date = DAYS[-1], **options: Any) -> list[Observation]:
    spec = settings.property("search").spec()
    return list(_source(settings, **options).fetch(spec, start=start, end=end))


def _expected(site: GscSite, breakdowns: tuple[str, ...]) -> dict[tuple[Any, ...], float]:
    sums: dict[tuple[date, str], list[float]] = {}
    for day, dims, clicks, impressions, position in site.facts:
        for series in ("total", *(f"{b}:{dims[b]}" for b in breakdowns)):
            acc = sums.setdefault((day, series), [0.0, 0.0, 0.0])
            acc[0] += clicks
            acc[1] += impressions
            acc[2] += position * impressions
    out: dict[tuple[Any, ...], float] = {}
    for (day, series), (clicks, impressions, weighted) in sums.items():
        out[day, series, "clicks"] = clicks
        out[day, series, "impressions"] = impressions
        out[day, series, "position"] = weighted / impressions
    return out


def test_one_day_at_a_time_exactly_as_served_with_data_states(world: GoogleWorld) -> None:
    site = world.gsc.add_site(SITE, final_through=FINAL_THROUGH)
    _populate(site)
    settings = _settings(world)

    observations = _fetch(settings)

    assert {(o.day, o.series, o.metric): o.value for o in observations} == _expected(site, ("query", "page"))
    assert len(observations) == len(DAYS) * (1 + 3 + 3) * 3
    assert {o.day for o in observations if o.flags & PointFlag.INCOMPLETE} == {date(2026, 3, 8), date(2026, 3, 9)}
    assert {o.flags for o in observations if o.day <= FINAL_THROUGH} == {PointFlag.NONE}
    queries = world.gsc.queries
    # The freshness probe, then per day: the total, and each breakdown until an empty page.
    assert queries[0]["dataState"] == "all"
    assert queries[0]["dimensions"] == ["date"]
    per_day = queries[1:]
    assert len(per_day) == len(DAYS) * (1 + 2 * 2)
    assert all(q["startDate"] == q["endDate"] for q in per_day)
    assert {q["dataState"] for q in per_day if q["startDate"] <= "2026-03-07"} == {"final"}
    assert {q["dataState"] for q in per_day if q["startDate"] > "2026-03-07"} == {"all"}
    assert all(q["rowLimit"] == 25_000 and q["type"] == "web" for q in per_day)
    assert [q.get("startRow", 0) for q in per_day[:5]] == [0, 0, 25_000, 0, 25_000]
    # The site URL travelled percent-encoded in the path.
    assert world.gsc.requests[0].raw_path == "/webmasters/v3/sites/sc-domain%3Ashop.example/searchAnalytics/query"


def test_url_prefix_properties_are_encoded_in_the_path(world: GoogleWorld) -> None:
    url = "https://shop.example/de/?a=1&b=ü"
    site = world.gsc.add_site(url)
    site.add(DAYS[0], {"query": "schuhe", "page": url}, clicks=3, impressions=40, position=2.25)
    settings = _settings(world, site=url, breakdowns=("query",))

    observations = _fetch(settings, start=DAYS[0], end=DAYS[0])

    assert {(o.series, o.metric): o.value for o in observations} == {
        ("total", "clicks"): 3.0,
        ("total", "impressions"): 40.0,
        ("total", "position"): 2.25,
        ("query:schuhe", "clicks"): 3.0,
        ("query:schuhe", "impressions"): 40.0,
        ("query:schuhe", "position"): 2.25,
    }
    assert world.gsc.requests[-1].raw_path == (
        "/webmasters/v3/sites/https%3A%2F%2Fshop.example%2Fde%2F%3Fa%3D1%26b%3D%C3%BC/searchAnalytics/query"
    )


def test_pages_in_steps_of_25000_until_an_empty_page(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE, synthetic_pages=30_001)
    settings = _settings(world, breakdowns=("page",), metrics=["clicks"])
    day = DAYS[0]

    observations = _fetch(settings, start=day, end=day)

    pages = [o for o in observations if o.series.startswith("page:")]
    assert len(pages) == 30_001
    url, clicks, _, _ = synthetic_row(day, 30_000)
    assert Observation("search", f"page:{url}", "clicks", day, float(clicks)) in pages
    starts = [q.get("startRow", 0) for q in world.gsc.queries if q["dimensions"] == ["page"]]
    assert starts == [0, 25_000, 50_000]


def test_last_final_day_follows_the_data_state(world: GoogleWorld) -> None:
    site = world.gsc.add_site(SITE, final_through=FINAL_THROUGH)
    _populate(site)
    settings = _settings(world)
    spec = settings.property("search").spec()
    assert _source(settings).last_final_date(spec, today=TODAY) == FINAL_THROUGH
    # Remembered: asking again (another source in the same process) costs no request.
    assert _source(settings).last_final_date(spec, today=TODAY) == FINAL_THROUGH
    assert world.gsc.count() == 1


def test_without_incomplete_days_the_newest_day_with_data_is_final(world: GoogleWorld) -> None:
    _populate(world.gsc.add_site(SITE))
    settings = _settings(world)
    assert _source(settings).last_final_date(settings.property("search").spec(), today=TODAY) == DAYS[-1]


def test_a_site_without_data_falls_back_to_three_days(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world)
    spec = settings.property("search").spec()
    assert _source(settings).last_final_date(spec, today=TODAY) == TODAY - timedelta(days=3)
    assert _fetch(settings) == []


@pytest.mark.parametrize(
    "failure",
    [
        (
            429,
            google_error(429, "Quota exceeded for quota metric 'Queries'.", "RESOURCE_EXHAUSTED", "rateLimitExceeded"),
        ),
        (403, google_error(403, "User rate limit exceeded.", "PERMISSION_DENIED", "userRateLimitExceeded")),
        (500, google_error(500, "Backend Error", "INTERNAL", "backendError")),
        (503, b"Service Unavailable"),
    ],
)
def test_retries_rate_limits_and_server_errors(world: GoogleWorld, failure: tuple[int, Any]) -> None:
    _populate(world.gsc.add_site(SITE))
    settings = _settings(world, breakdowns=())
    world.gsc.fail(*failure, times=2)

    observations = _fetch(settings, start=DAYS[0], end=DAYS[0])

    assert len(observations) == 3
    assert world.gsc.count() == 2 + 2  # two failures, then the probe and the day's total


def test_a_quota_that_stays_exceeded_stops_the_fetch(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world)
    world.gsc.fail(429, google_error(429, "Quota exceeded.", "RESOURCE_EXHAUSTED", "rateLimitExceeded"), times=10)
    with pytest.raises(SourceQuotaError, match=r"Search Console sc-domain:shop.example: quota exceeded, the next run"):
        _fetch(settings)
    assert world.gsc.count() == 1 + settings.google.max_retries


def test_a_daily_quota_error_is_not_retried(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world)
    world.gsc.fail(403, google_error(403, "Daily limit exceeded.", "PERMISSION_DENIED", "quotaExceeded"))
    with pytest.raises(SourceQuotaError, match=r"403 Daily limit exceeded"):
        _fetch(settings)
    assert world.gsc.count() == 1


def test_no_permission_for_the_site_is_not_retried(world: GoogleWorld) -> None:
    settings = _settings(world)  # the fake knows no site
    with pytest.raises(SourceError, match=r"account 'agency' has no access: 403 User does not have") as caught:
        _fetch(settings)
    assert type(caught.value) is SourceError
    assert world.gsc.count() == 1


def test_gives_up_on_persistent_server_errors(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world)
    world.gsc.fail(503, google_error(503, "Backend Error", "UNAVAILABLE", "backendError"), times=10)
    with pytest.raises(SourceTransientError, match=r"still failing after retries: 503 Backend Error"):
        _fetch(settings)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "malformed response"),
        ({"rows": {"keys": ["2026-03-03"]}}, "rows is not a list of objects"),
        ({"rows": [{"keys": ["2026-03-03", "x"], "clicks": 1, "impressions": 2, "position": 1.0}]}, "row keys"),
        ({"rows": [{"keys": ["2026-03-03"], "clicks": "1", "impressions": 2, "position": 1.0}]}, "clicks '1' is not"),
        ({"rows": [{"keys": ["03/03/2026"], "clicks": 1, "impressions": 2, "position": 1.0}]}, "not a YYYY-MM-DD"),
    ],
    ids=["html", "rows-not-list", "keys", "number-as-string", "date"],
)
def test_malformed_responses_fail_in_one_line(world: GoogleWorld, body: Any, problem: str) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world)
    _source(settings).last_final_date(settings.property("search").spec(), today=TODAY)  # the probe answers well
    world.gsc.fail(200, body)
    with pytest.raises(SourceTransientError, match=problem) as caught:
        _fetch(settings)
    assert str(caught.value).startswith("Search Console sc-domain:shop.example: malformed response: ")
    assert "\n" not in str(caught.value)


def test_requests_wait_for_the_per_site_limiter(world: GoogleWorld) -> None:
    _populate(world.gsc.add_site(SITE))
    settings = _settings(world, breakdowns=("query",))
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(rate=4, per=60.0, clock=lambda: clock[0], sleep=sleep)
    observations = _fetch(settings, start=DAYS[0], end=DAYS[1], limiter=limiter)

    assert len(observations) == 2 * (1 + 3) * 3
    assert world.gsc.count() == 1 + 2 * 3
    assert slept == [60.0]  # 7 requests at 4 a minute: the fifth waited for the window to pass


def test_a_revoked_oauth_token_is_an_auth_error_before_any_query(world: GoogleWorld) -> None:
    from cryptography.fernet import Fernet

    from jobs.storage import accounts
    from tests.fakes.google_world import SECRET_KEY

    world.gsc.add_site(SITE)
    token = world.oauth.add_refresh_token()
    world.oauth.revoke(token)
    prop = {"name": "search", "source": "gsc", "id": SITE, "account": "client"}
    settings = load_settings(world.write_config(properties=[prop], accounts=[{"name": "client", "kind": "oauth"}]))
    engine = bootstrap.engine(settings)
    encrypted = Fernet(SECRET_KEY.encode()).encrypt(token.encode()).decode()
    accounts.save_token(
        engine, "client", refresh_token=encrypted, client_id="client-1", scopes=(), now=datetime.now(UTC)
    )

    with pytest.raises(SourceAuthError, match=r"credentials of account 'client': invalid_grant: Token has been"):
        _fetch(settings)
    assert world.gsc.count() == 0


def test_an_unknown_dimension_is_refused_before_any_request(world: GoogleWorld) -> None:
    world.gsc.add_site(SITE)
    settings = _settings(world, breakdowns=())
    spec = settings.property("search").spec()
    bad = type(spec)(**{**{f: getattr(spec, f) for f in spec.__slots__}, "breakdowns": ("landingPage",)})
    with pytest.raises(InputError, match=r"Search Console has no dimension 'landingPage' \(choose from query, page"):
        list(_source(settings).fetch(bad, start=DAYS[0], end=DAYS[0]))
    assert world.gsc.count() == 0


def test_a_server_ignoring_start_row_is_not_paged_forever(world: GoogleWorld) -> None:
    site = world.gsc.add_site(SITE, ignore_start_row=True)
    _populate(site)
    settings = _settings(world, breakdowns=("query",))

    observations = _fetch(settings, start=DAYS[0], end=DAYS[0])

    assert {(o.day, o.series, o.metric): o.value for o in observations} == {
        k: v for k, v in _expected(site, ("query",)).items() if k[0] == DAYS[0]
    }
    assert [q.get("startRow", 0) for q in world.gsc.queries if q["dimensions"] == ["query"]] == [0, 25_000]


def test_a_metric_the_rows_do_not_carry_is_not_stored(world: GoogleWorld) -> None:
    site = world.gsc.add_site(SITE, omit=("position",))
    _populate(site)
    settings = _settings(world, breakdowns=("page",))
    observations = _fetch(settings, start=DAYS[0], end=DAYS[0])
    assert {o.metric for o in observations} == {"clicks", "impressions"}
    assert len(observations) == (1 + 3) * 2


def test_an_unreachable_endpoint_is_retried_then_transient(world: GoogleWorld) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    prop = {"name": "search", "source": "gsc", "id": SITE, "account": "agency"}
    settings = load_settings(world.write_config(properties=[prop], google={"gsc_endpoint": f"http://127.0.0.1:{port}"}))
    with pytest.raises(SourceTransientError, match=r"unreachable after retries: ConnectionRefusedError"):
        _fetch(settings)
