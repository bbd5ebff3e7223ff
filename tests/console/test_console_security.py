"""The console's security contract: sign-in, sessions, roles, CSRF, headers, hostile names."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from jobs.storage.console import AuditRow
from tests.console.world import HOSTILE, PASSWORD, World, build_world, csrf_of, sign_in
from worker import audit
from worker.web.users import Role, add_user, create_token, remove_user

PAGES = [
    "/",
    "/findings",
    "/findings/1",
    "/digests",
    "/digests/1",
    "/deliveries",
    "/mutes",
    "/tuning",
    "/llm",
    "/audit",
]
APIS = ["/api/findings", "/api/deliveries", "/api/incidents"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("console"))


@pytest.fixture
def client(world: World) -> TestClient:
    return TestClient(world.app(), follow_redirects=False)


@pytest.mark.parametrize("path", PAGES)
def test_without_a_session_every_page_redirects_to_the_login(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", APIS)
def test_without_a_session_every_api_call_is_401(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer brm_not-a-token"}).status_code == 401


def test_sign_in_lands_on_the_page_asked_for_with_a_safe_session_cookie(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    first = client.get("/findings?severity=high")
    assert first.headers["location"] == "/login?next=%2Ffindings%3Fseverity%3Dhigh"
    form = client.get(first.headers["location"])
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    assert 'name="next" value="/findings?severity=high"' in form.text
    done = client.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "login_token": token.group(1),
            "next": "/findings?severity=high",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/findings?severity=high"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("barometer_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    assert client.get("/findings").status_code == 200


def test_behind_https_the_session_cookie_is_secure(world: World) -> None:
    client = TestClient(world.app(public_url="https://barometer.example.com"), base_url="https://testserver")
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "login_token": token.group(1)},
        follow_redirects=False,
    )
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("barometer_session="))
    assert "Secure" in cookie


def test_an_offsite_next_is_not_followed(client: TestClient) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "login_token": token.group(1), "next": "//evil.example/x"},
    )
    assert done.headers["location"] == "/"


def test_a_wrong_password_says_so_and_signs_nobody_in(client: TestClient) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    bad = client.post("/login", data={"username": "ana", "password": "wrong password!", "login_token": token.group(1)})
    assert bad.status_code == 401
    assert "Wrong user name or password." in bad.text
    assert client.get("/").status_code == 303


def test_a_login_post_from_another_site_is_refused(client: TestClient) -> None:
    """No login cookie (a cross-site form cannot read or set it): refused even with the right password."""
    refused = client.post("/login", data={"username": "ana", "password": PASSWORD, "login_token": "forged"})
    assert refused.status_code == 403
    assert client.get("/").status_code == 303


def test_repeated_failed_sign_ins_are_throttled_until_the_window_passes(world: World, tmp_path: Path) -> None:
    client = TestClient(world.app(), follow_redirects=False)

    def attempt(password: str) -> int:
        form = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        return client.post(
            "/login", data={"username": "adam", "password": password, "login_token": token.group(1)}
        ).status_code

    assert [attempt("not the password") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # the right password too: the throttle does not tell
    world.clock.advance(timedelta(minutes=16))
    assert attempt(PASSWORD) == 303


def test_every_post_without_the_session_csrf_token_is_refused(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    csrf = sign_in(client, "adam")
    audited = _audit_rows(world)
    posts = {
        f"/findings/{world.hostile_id}/label": {"label": "confirmed"},
        "/mutes": {"pattern": "shop", "for": "1d"},
        "/mutes/1/end": {},
        "/deliveries/1/retry": {},
        "/tuning/preview": {"property": "shop", "metric": "sessions", "sensitivity": "0.01",
                            "min_change_pct": "0.15", "direction": "both"},
        "/tuning": {"property": "shop", "metric": "sessions", "sensitivity": "0.01",
                    "min_change_pct": "0.15", "direction": "both"},
        "/users": {"name": "x", "role": "viewer", "password": "long enough pw"},
        "/users/ana/remove": {},
        "/tokens": {"name": "x"},
        "/tokens/x/remove": {},
        "/logout": {},
    }  # fmt: skip
    for path, data in posts.items():
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "x" + csrf}).status_code == 403, path
    assert _audit_rows(world) == audited  # nothing was changed
    assert client.get("/").status_code == 200  # still signed in: the refused /logout did nothing
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 303


def _audit_rows(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(AuditRow.__table__)).scalar_one())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/findings/{hostile}/label", {"label": "confirmed"}),
        ("/mutes", {"pattern": "shop", "for": "1d"}),
        ("/deliveries/1/retry", {}),
        ("/tuning", {"property": "shop", "metric": "sessions", "sensitivity": "0.02", "min_change_pct": "0.2",
                     "direction": "both"}),
    ],
)  # fmt: skip
def test_viewers_cannot_label_mute_tune_or_retry(world: World, path: str, data: dict[str, str]) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    csrf = sign_in(client, "vera")
    response = client.post(path.format(hostile=world.hostile_id), data={**data, "csrf_token": csrf})
    assert response.status_code == 403
    assert "needs the analyst role" in response.text


def test_logout_ends_the_session_even_for_a_copied_cookie(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    csrf = sign_in(client, "ana")
    copied = client.cookies.get("barometer_session")
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    thief = TestClient(world.app(), follow_redirects=False, cookies={"barometer_session": str(copied)})
    assert thief.get("/").status_code == 303


def test_removing_a_user_ends_their_sessions(world: World) -> None:
    add_user(world.engine, "temp", role=Role.ANALYST, password=PASSWORD, now=world.clock())
    client = TestClient(world.app(), follow_redirects=False)
    sign_in(client, "temp")
    assert client.get("/").status_code == 200
    remove_user(world.engine, "temp")
    assert client.get("/").status_code == 303


def test_an_api_token_reads_the_api_and_nothing_else(world: World) -> None:
    token = create_token(world.engine, "script", role=Role.VIEWER, now=world.clock())
    client = TestClient(world.app(), follow_redirects=False, headers={"Authorization": f"Bearer {token}"})
    body = client.get("/api/findings?severity=critical").json()
    assert world.hostile_id in [f["id"] for f in body["findings"]]
    assert {f["severity"] for f in body["findings"]} == {"critical"}
    assert client.get("/findings").status_code == 303  # pages need a session


def test_pages_carry_a_strict_content_security_policy(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    sign_in(client, "ana")
    page = client.get("/findings")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text.replace('<script src="/static/htmx.min.js" defer></script>', "")
    assert client.get("/static/htmx.min.js").status_code == 200


@pytest.mark.parametrize("path", ["/findings", "/findings/{hostile}", "/", "/api/findings"])
def test_a_hostile_series_name_is_shown_as_text(world: World, path: str) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    sign_in(client, "ana")
    page = client.get(path.format(hostile=world.hostile_id))
    assert page.status_code == 200
    if path.startswith("/api"):  # JSON for scripts: the true name, as data (application/json is never rendered)
        assert page.headers["content-type"] == "application/json"
        assert [f["series"] for f in page.json()["findings"] if f["id"] == world.hostile_id] == [HOSTILE]
        return
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "\u202e" not in page.text
    assert "[U+202E]gnp.exe" in page.text


def test_csrf_token_of_one_session_does_not_work_in_another(world: World) -> None:
    one, two = TestClient(world.app(), follow_redirects=False), TestClient(world.app(), follow_redirects=False)
    csrf_one = sign_in(one, "ana")
    sign_in(two, "ana")
    assert csrf_one != csrf_of(two.get("/mutes").text)
    assert two.post("/mutes", data={"pattern": "shop", "for": "1d", "csrf_token": csrf_one}).status_code == 403


def test_only_admins_manage_users_and_tokens(world: World) -> None:
    analyst = TestClient(world.app(), follow_redirects=False)
    csrf = sign_in(analyst, "ana")
    assert analyst.get("/users").status_code == 403
    form = {"name": "eve", "role": "admin", "password": "an admin password", "csrf_token": csrf}
    assert analyst.post("/users", data=form).status_code == 403
    assert analyst.post("/tokens", data={"name": "t", "csrf_token": csrf}).status_code == 403

    admin = TestClient(world.app())
    csrf = sign_in(admin, "adam")
    refused = admin.post("/users", data={**form, "name": "<eve>", "csrf_token": csrf})
    assert "user name &#39;&lt;eve&gt;&#39;: letters, digits and _ . @ - only" in refused.text
    made = admin.post("/users", data={**form, "role": "viewer", "csrf_token": csrf})
    assert "<td>eve</td><td>viewer</td>" in made.text
    newcomer = TestClient(world.app(), follow_redirects=False)
    sign_in(newcomer, "eve", "an admin password")
    assert newcomer.get("/").status_code == 200
    shown = admin.post("/tokens", data={"name": "cron", "role": "viewer", "csrf_token": csrf})
    token = re.search(r'<code id="new-token">([^<]+)</code>', shown.text)
    assert token is not None
    assert "Copy it now" in shown.text
    assert token.group(1) not in admin.get("/users").text  # shown once
    api = TestClient(world.app(), headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.get("/api/incidents").status_code == 200
    admin.post("/tokens/cron/remove", data={"csrf_token": csrf})
    assert api.get("/api/incidents").status_code == 401
    admin.post("/users/eve/remove", data={"csrf_token": csrf})
    assert newcomer.get("/").status_code == 303
    assert [e.action for e in audit.recent(world.engine, limit=4)] == [
        "user_remove", "token_remove", "token_create", "user_add",
    ]  # fmt: skip


def test_a_session_ends_after_twelve_hours(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)
    sign_in(client, "ana")
    world.clock.advance(timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    world.clock.advance(timedelta(minutes=2))
    assert client.get("/").status_code == 303
    assert client.get("/api/findings").status_code == 401


def test_failed_sign_ins_from_one_address_are_throttled_across_user_names(world: World) -> None:
    client = TestClient(world.app(), follow_redirects=False)

    def attempt(name: str, password: str) -> int:
        form = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        return client.post(
            "/login", data={"username": name, "password": password, "login_token": token.group(1)}
        ).status_code

    assert [attempt(f"guess{i}", "nope nope nope") for i in range(5)] == [401] * 5
    assert attempt("vera", PASSWORD) == 429
    world.clock.advance(timedelta(minutes=15))
    assert attempt("vera", PASSWORD) == 303


def test_a_message_in_a_link_made_elsewhere_is_not_shown(world: World) -> None:
    client = TestClient(world.app())
    csrf = sign_in(client, "ana")
    forged = client.get("/mutes?flash=Your+account+is+locked%2C+call+555-0100&kind=error&sig=0123456789abcdef")
    assert "555-0100" not in forged.text
    real = client.post("/mutes", data={"pattern": "nope/", "for": "1d", "csrf_token": csrf})
    assert "the metric part after the first" in real.text  # the app's own messages still arrive
