""" "Sign in with Google" for one Workspace domain, against a local fake of Google's consent
page and token endpoint (OpenID Connect with PKCE): who gets in, with which role, and every
refusal as one line with nobody signed in and no user created."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.console.world import World, build_world, csrf_of
from tests.fakes.google import FakeOAuth
from worker import audit
from worker.settings import Settings
from worker.web import create_app
from worker.web.users import Role, list_users

PUBLIC = "http://127.0.0.1:8040"
CLIENT_ID = "console-client.apps.googleusercontent.com"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("google"))


@pytest.fixture
def google(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOAuth]:
    monkeypatch.setenv("GOOGLE_OAUTH_CLIENT_SECRET", "console-secret")
    fake = FakeOAuth(now=world.clock)
    with fake:
        yield fake


def _app(world: World, google: FakeOAuth, **web: object) -> FastAPI:
    settings: Settings = world.settings.model_copy(
        update={
            "google": world.settings.google.model_copy(
                update={"oauth_client_id": CLIENT_ID, "auth_uri": f"{google.url}/auth", "token_uri": google.token_uri}
            ),
            "web": world.settings.web.model_copy(update={"public_url": PUBLIC, "google_domain": "shop.example", **web}),
        }
    )
    return create_app(settings, now=world.clock)


def _through_google(client: TestClient, next_: str = "/") -> Any:
    """The browser's trip: our start page, Google's consent page, back to our callback."""
    start = client.get(f"/login/google?next={urllib.parse.quote(next_)}")
    assert start.status_code == 303
    consent = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    back = urllib.parse.urlsplit(consent.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PUBLIC}/login/google/callback"
    return client.get(f"{back.path}?{back.query}")


def test_the_login_page_offers_google_only_when_configured(world: World, google: FakeOAuth) -> None:
    assert "Sign in with Google" not in TestClient(world.app()).get("/login").text
    page = TestClient(_app(world, google)).get("/login?next=/findings").text
    assert "Sign in with Google (shop.example)" in page
    assert 'href="/login/google?next=/findings"' in page


def test_the_consent_request_asks_for_the_domain_with_pkce(world: World, google: FakeOAuth) -> None:
    start = TestClient(_app(world, google), follow_redirects=False).get("/login/google")
    target = urllib.parse.urlsplit(start.headers["location"])
    query = dict(urllib.parse.parse_qsl(target.query))
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{google.url}/auth"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{PUBLIC}/login/google/callback"
    assert query["scope"] == "openid email"
    assert query["hd"] == "shop.example"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 24
    assert len(query["nonce"]) >= 24
    cookie = next(c for c in start.headers.get_list("set-cookie") if c.startswith("barometer_google="))
    assert "HttpOnly" in cookie
    assert "Path=/login/google" in cookie
    assert "SameSite=lax" in cookie


def test_a_domain_user_signs_in_as_a_new_viewer_and_again_as_the_same_user(world: World, google: FakeOAuth) -> None:
    google.sign_in("Mia@shop.example", hd="shop.example")
    client = TestClient(_app(world, google), follow_redirects=False)
    done = _through_google(client, "/findings?severity=high")
    assert done.status_code == 303
    assert done.headers["location"] == "/findings?severity=high"
    page = client.get("/findings")
    assert page.status_code == 200
    assert "mia@shop.example" in page.text
    (mia,) = [u for u in list_users(world.engine) if u.name == "mia@shop.example"]
    assert mia.role is Role.VIEWER
    entry = audit.recent(world.engine, limit=1)[0]
    assert (entry.actor, entry.action, entry.target) == ("google:mia@shop.example", "user_add", "user mia@shop.example")
    # a viewer cannot label
    label = client.post("/findings/1/label", data={"label": "confirmed", "csrf": csrf_of(page.text)})
    assert label.status_code == 403
    # signing in again finds the same user; nothing new in the audit log
    again = TestClient(_app(world, google), follow_redirects=False)
    assert _through_google(again).status_code == 303
    assert [u.id for u in list_users(world.engine) if u.name == "mia@shop.example"] == [mia.id]
    assert audit.recent(world.engine, limit=1)[0].id == entry.id
    # a Google-made user has no password that works
    from worker.web.users import verify_login

    assert verify_login(world.engine, "mia@shop.example", "!google") is None


def test_the_configured_role_is_given_to_new_users(world: World, google: FakeOAuth) -> None:
    google.sign_in("noah@shop.example", hd="shop.example")
    client = TestClient(_app(world, google, google_role="analyst"), follow_redirects=False)
    assert _through_google(client).status_code == 303
    (noah,) = [u for u in list_users(world.engine) if u.name == "noah@shop.example"]
    assert noah.role is Role.ANALYST


@pytest.mark.parametrize(
    ("email", "hd", "verified", "why"),
    [
        ("eve@gmail.com", None, True, "the account is not in shop.example"),
        ("eve@other.example", "other.example", True, "the account is not in shop.example"),
        ("eve@shop.example", "shop.example", False, "the address is not verified"),
    ],
)
def test_accounts_outside_the_domain_are_refused(
    world: World, google: FakeOAuth, email: str, hd: str | None, verified: bool, why: str
) -> None:
    google.sign_in(email, hd=hd, verified=verified)
    client = TestClient(_app(world, google), follow_redirects=False)
    refused = _through_google(client)
    assert refused.status_code == 403
    assert f"Google sign-in refused: {why}." in html.unescape(refused.text)
    assert "barometer_session=" not in refused.headers.get("set-cookie", "")
    assert email.lower() not in {u.name for u in list_users(world.engine)}
    assert client.get("/findings").status_code == 303  # still signed out


def test_a_callback_that_this_browser_did_not_start_is_refused(world: World, google: FakeOAuth) -> None:
    google.sign_in("mallory@shop.example", hd="shop.example")
    attacker = TestClient(_app(world, google), follow_redirects=False)
    start = attacker.get("/login/google")
    consent = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    callback = urllib.parse.urlsplit(consent.headers["Location"])
    victim = TestClient(_app(world, google), follow_redirects=False)  # has no cookie from the start page
    refused = victim.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 403
    assert "The Google sign-in expired or was started elsewhere" in refused.text
    victim.get("/login/google")  # a sign-in of its own under way: another state
    refused = victim.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 403
    assert "The Google sign-in expired or was started elsewhere" in refused.text
    assert "mallory@shop.example" not in {u.name for u in list_users(world.engine)}


def test_a_cancelled_consent_and_an_expired_token_say_so(world: World, google: FakeOAuth) -> None:
    client = TestClient(_app(world, google), follow_redirects=False)
    cancelled = _through_google(client)  # nobody signed in at Google: access_denied
    assert cancelled.status_code == 403
    assert "Google sign-in was not completed (access_denied)." in cancelled.text
    google.sign_in("late@shop.example", hd="shop.example")
    google.now = lambda: world.clock() - timedelta(hours=2)  # an ID token that expired an hour ago
    stale = _through_google(client)
    assert stale.status_code == 403
    assert "Google sign-in refused: it has expired." in stale.text
    assert "late@shop.example" not in {u.name for u in list_users(world.engine)}


def test_google_down_or_refusing_is_one_line_and_signs_nobody_in(world: World, google: FakeOAuth) -> None:
    google.sign_in("zoe@shop.example", hd="shop.example")
    client = TestClient(_app(world, google), follow_redirects=False)
    for status, body, shown in (
        (500, b"<html>oops</html>", "Google's token endpoint answered HTTP 500 without JSON; please try again."),
        (400, {"error": "invalid_grant"}, "Google refused the sign-in (invalid_grant)."),
    ):
        start = client.get("/login/google")
        consent = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
        back = urllib.parse.urlsplit(consent.headers["Location"])
        google.fail(status, body)
        refused = client.get(f"{back.path}?{back.query}")
        assert refused.status_code == 403
        assert shown in html.unescape(refused.text)
    assert "zoe@shop.example" not in {u.name for u in list_users(world.engine)}
    assert client.get("/findings").status_code == 303


def test_without_the_client_secret_the_sign_in_says_what_to_set(
    world: World, google: FakeOAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    google.sign_in("ian@shop.example", hd="shop.example")
    monkeypatch.delenv("GOOGLE_OAUTH_CLIENT_SECRET")
    refused = _through_google(TestClient(_app(world, google), follow_redirects=False))
    assert refused.status_code == 403
    assert "GOOGLE_OAUTH_CLIENT_SECRET is not set on the server." in refused.text


def test_a_domain_without_an_oauth_client_is_a_config_error(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="Google sign-in needs \\[google\\] oauth_client_id"):
        Settings.model_validate({"web": {"google_domain": "shop.example"}})
    with pytest.raises(ValidationError, match="expected a domain name"):
        Settings.model_validate({"web": {"google_domain": "not a domain"}})
