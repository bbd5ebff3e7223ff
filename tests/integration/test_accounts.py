"""Google accounts: the OAuth installed-app flow end to end, encrypted token storage,
status listing, and a revoked token that is reported once while other accounts go on."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sentry_sdk
import sqlalchemy as sa
from cryptography.fernet import Fernet

from jobs.storage import accounts
from tests.fakes.google_world import CLIENT_ID, SECRET_KEY, GoogleWorld
from tests.fakes.sentry import FakeSentry
from worker import bootstrap
from worker.observability import init_sentry
from worker.runtime import build as build_runtime
from worker.service import run_daily
from worker.settings import Settings, load_settings

BAROMETER = str(Path(sys.executable).with_name("barometer"))
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


@pytest.fixture(autouse=True)
def _sentry_off_afterwards() -> Iterator[None]:
    with sentry_sdk.isolation_scope():
        yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def _env(world: GoogleWorld, config: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BAROMETER_", "OAUTHLIB_"))}
    return base | world.env | {"BAROMETER_CONFIG": str(config)} | extra


def _barometer(*args: str, world: GoogleWorld, config: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BAROMETER, *args],
        cwd=world.root,
        env=_env(world, config, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sign_in(world: GoogleWorld, config: Path, name: str, *, code: str) -> tuple[str, dict[str, str]]:
    """Run ``accounts add NAME --oauth`` and play the browser: follow the printed URL's
    redirect to the loopback server with an authorization code. Returns stdout and the
    consent URL's query."""
    env = _env(world, config, OAUTHLIB_INSECURE_TRANSPORT="1")  # the fake token endpoint is http://
    with subprocess.Popen(
        [BAROMETER, "accounts", "add", name, "--oauth", "--no-browser", "--timeout", "60"],
        cwd=world.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith(world.oauth.url):  # the consent page ([google] auth_uri)
                break
        consent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(lines[-1].strip()).query))
        redirect = consent["redirect_uri"]
        assert redirect.startswith("http://127.0.0.1:")
        query = urllib.parse.urlencode({"state": consent["state"], "code": code, "scope": consent["scope"]})
        with urllib.request.urlopen(f"{redirect}?{query}", timeout=30) as answer:
            assert b"barometer is authorised" in answer.read()
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    return "".join(lines) + out, consent


def test_oauth_sign_in_stores_the_refresh_token_encrypted(world: GoogleWorld) -> None:
    config = world.write_config(accounts=[{"name": "client", "kind": "oauth"}])
    refresh_token = world.oauth.add_code("4/auth-code-1")

    out, consent = _sign_in(world, config, "client", code="4/auth-code-1")

    assert "account client: authorised; refresh token stored encrypted" in out
    assert consent["client_id"] == CLIENT_ID
    assert consent["access_type"] == "offline"
    assert consent["prompt"] == "consent"
    assert set(consent["scope"].split()) == {
        "https://www.googleapis.com/auth/analytics.readonly",
        "https://www.googleapis.com/auth/webmasters.readonly",
    }
    assert consent["code_challenge_method"] == "S256"
    engine = sa.create_engine(world.database_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select refresh_token, status from google_account where name = 'client'")).one()
    engine.dispose()
    assert refresh_token not in stored[0]
    assert Fernet(SECRET_KEY.encode()).decrypt(stored[0].encode()).decode() == refresh_token
    assert stored[1] == "ok"

    listed = _barometer("accounts", "list", world=world, config=config)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:3] == ["client", "oauth", "ok"]


def test_sign_in_for_an_unconfigured_name_prints_the_entry_to_paste(world: GoogleWorld) -> None:
    config = world.write_config(accounts=[])
    world.oauth.add_code("4/auth-code-2")
    out, _ = _sign_in(world, config, "newclient", code="4/auth-code-2")
    assert '[[accounts]]\nname = "newclient"\nkind = "oauth"' in out


@pytest.mark.parametrize(
    ("args", "unset", "message"),
    [
        (("accounts", "add", "client"), "", "error: accounts add: only OAuth users are added here (--oauth)"),
        (("accounts", "add", "client", "--oauth"), "BAROMETER_SECRET_KEY", "error: BAROMETER_SECRET_KEY is not set"),
        (("accounts", "add", "client", "--oauth"), "GOOGLE_OAUTH_CLIENT_SECRET", "error: GOOGLE_OAUTH_CLIENT_SECRET"),
        (("properties", "discover", "--account", "nobody"), "", "error: no account named 'nobody'"),
    ],
)
def test_bad_input_is_one_line(world: GoogleWorld, args: tuple[str, ...], unset: str, message: str) -> None:
    config = world.write_config(accounts=[{"name": "client", "kind": "oauth"}])
    env = {unset: ""} if unset else {}
    result = _barometer(*args, world=world, config=config, **env)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _store_token(settings: Settings, name: str, token: str) -> None:
    encrypted = Fernet(SECRET_KEY.encode()).encrypt(token.encode()).decode()
    engine = bootstrap.engine(settings)
    accounts.save_token(engine, name, refresh_token=encrypted, client_id=CLIENT_ID, scopes=(), now=NOW)


def _two_accounts(world: GoogleWorld) -> Settings:
    for prop_id in ("1", "2"):
        prop = world.ga4.add_property(prop_id)
        for n in range(1, 10):
            prop.add(date(2026, 3, 10) - timedelta(days=n), {}, sessions=100 + n)
    properties = [
        {"name": "client-shop", "source": "ga4", "id": "properties/1", "account": "client", "metrics": ["sessions"]},
        {"name": "agency-shop", "source": "ga4", "id": "properties/2", "account": "agency", "metrics": ["sessions"]},
    ]
    account_list = [
        {"name": "client", "kind": "oauth"},
        {"name": "agency", "kind": "service_account", "key_file": str(world.key_file)},
    ]
    extra = (
        '[[subscriptions]]\nname = "team"\nproperties = ["client-shop", "agency-shop"]\nemail = ["team@example.com"]\n'
    )
    return load_settings(world.write_config(properties=properties, accounts=account_list, extra=extra))


def test_a_revoked_token_is_reported_once_and_other_accounts_keep_working(
    world: GoogleWorld, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _two_accounts(world)
    token = world.oauth.add_refresh_token(client_id=CLIENT_ID)
    _store_token(settings, "client", token)
    world.oauth.revoke(token)
    with FakeSentry() as sentry:
        monkeypatch.setenv("SENTRY_DSN", sentry.dsn)
        assert init_sentry(settings, release="barometer@test")

        with caplog.at_level(logging.INFO):
            first = run_daily(build_runtime(settings), now=lambda: NOW)
        sentry_sdk.flush()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(sentry.events) == 1
        caplog.clear()

        with caplog.at_level(logging.INFO):
            second = run_daily(build_runtime(settings), now=lambda: NOW + timedelta(days=1))
        sentry_sdk.flush()
        assert len(sentry.events) == 1  # not reported again
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    assert [p.property for p in first.properties] == ["agency-shop"]
    assert "client" in first.failures["client-shop"]
    assert "invalid_grant" in first.failures["client-shop"]
    assert len(errors) == 1
    assert "Google account client needs re-authorisation" in errors[0].getMessage()
    assert "barometer accounts add client --oauth" in errors[0].getMessage()
    # The next day the revoked account is not even sent to Google; the other one works.
    assert [p.property for p in second.properties] == ["agency-shop"]
    assert second.failures["client-shop"].startswith("account 'client' needs re-authorisation since ")
    assert second.failures["client-shop"].endswith(": run `barometer accounts add client --oauth`")
    assert world.oauth.grants("refresh_token") == 1
    assert world.ga4.count("/properties/1:") == 0
    assert world.ga4.count("/properties/2:") == 2
    # The digest names the property that got no fresh data.
    eml = next((world.root / "outbox").glob("*team@example.com.eml"))
    text = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default).get_body(("plain",))
    assert text is not None
    assert "client-shop: no fresh data (SourceAuthError: GA4 properties/1: Google rejected the credentials" in str(
        text.get_content()
    )
    statuses = _barometer("accounts", "list", world=world, config=world.root / "barometer.toml")
    assert "client  oauth            needs re-auth" in statuses.stdout


def test_signing_in_again_clears_the_mark(world: GoogleWorld) -> None:
    settings = _two_accounts(world)
    token = world.oauth.add_refresh_token(client_id=CLIENT_ID)
    _store_token(settings, "client", token)
    world.oauth.revoke(token)
    run_daily(build_runtime(settings), now=lambda: NOW)
    engine = bootstrap.engine(settings)
    stored = accounts.load_account(engine, "client")
    assert stored is not None
    assert stored.status == accounts.NEEDS_REAUTH

    world.oauth.add_code("4/again")
    _sign_in(world, world.root / "barometer.toml", "client", code="4/again")

    report = run_daily(build_runtime(settings), now=lambda: NOW + timedelta(days=1))
    assert sorted(p.property for p in report.properties) == ["agency-shop", "client-shop"]
    assert report.failures == {}


def test_accounts_list_check_asks_google_and_marks_rejections(world: GoogleWorld) -> None:
    settings = _two_accounts(world)
    token = world.oauth.add_refresh_token(client_id=CLIENT_ID)
    _store_token(settings, "client", token)
    config = world.root / "barometer.toml"

    healthy = _barometer("accounts", "list", "--check", world=world, config=config)
    assert healthy.returncode == 0, healthy.stderr
    assert [line.split()[:3] for line in healthy.stdout.splitlines()] == [
        ["client", "oauth", "ok"],
        ["agency", "service_account", "ok"],
    ]
    world.oauth.revoke(token)
    checked = _barometer("accounts", "list", "--check", world=world, config=config)
    assert checked.returncode == 1
    assert checked.stdout.splitlines()[0].split()[:4] == ["client", "oauth", "needs", "re-auth"]
    assert "invalid_grant" in checked.stdout


def test_accounts_list_check_reports_a_token_it_cannot_decrypt(world: GoogleWorld) -> None:
    settings = _two_accounts(world)
    token = world.oauth.add_refresh_token(client_id=CLIENT_ID)
    _store_token(settings, "client", token)
    config = world.root / "barometer.toml"
    other_key = Fernet.generate_key().decode()  # the key was replaced without keeping the old one

    checked = _barometer("accounts", "list", "--check", world=world, config=config, BAROMETER_SECRET_KEY=other_key)

    assert checked.returncode == 1
    client = checked.stdout.splitlines()[0]
    assert client.split()[:4] == ["client", "oauth", "cannot", "decrypt"], checked.stdout
    assert "BAROMETER_SECRET_KEY: cannot decrypt the stored token of account 'client'" in client
    assert checked.stdout.splitlines()[1].split()[:3] == ["agency", "service_account", "ok"]
