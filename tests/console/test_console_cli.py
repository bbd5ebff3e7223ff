"""``barometer users`` and ``barometer tokens`` as an admin runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from worker import db
from worker.web.users import verify_login

BAROMETER = str(Path(sys.executable).with_name("barometer"))


def _run(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    env["BAROMETER_STORAGE__DATABASE_URL"] = f"sqlite:///{tmp / 'b.db'}"
    return subprocess.run(
        [BAROMETER, *args], input=stdin, cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_users_add_list_remove(tmp_path: Path) -> None:
    added = _run(tmp_path, "users", "add", "ana", "--role", "analyst", "--password-stdin", stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "user ana added (analyst)"
    engine = db.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    user = verify_login(engine, "ana", "a long password")
    assert user is not None
    assert user.role.value == "analyst"
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM web_user")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "a long password" not in stored
    assert "ana  analyst" in _run(tmp_path, "users", "list").stdout
    again = _run(tmp_path, "users", "add", "ana", "--password-stdin", stdin="another password\n")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: user 'ana' already exists (remove it first, or pick another name)",
    )
    assert _run(tmp_path, "users", "remove", "ana").returncode == 0
    assert _run(tmp_path, "users", "list").stdout.startswith("no users")
    with engine.connect() as conn:
        actions = [r[0] for r in conn.execute(sa.text("SELECT action FROM audit_log ORDER BY id"))]
    assert actions == ["user_add", "user_remove"]


def test_bad_user_input_is_one_line(tmp_path: Path) -> None:
    short = _run(tmp_path, "users", "add", "bob", "--password-stdin", stdin="short\n")
    assert (short.returncode, short.stderr.strip()) == (1, "error: password: at least 10 characters, got 5")
    role = _run(tmp_path, "users", "add", "bob", "--role", "boss", "--password-stdin", stdin="long enough pw\n")
    assert (role.returncode, role.stderr.strip()) == (1, "error: --role: 'boss' is not one of viewer, analyst, admin")
    name = _run(tmp_path, "users", "add", "<b>", "--password-stdin", stdin="long enough pw\n")
    assert name.returncode == 1
    assert name.stderr.count("\n") == 1


def test_a_token_is_printed_once_and_opens_the_api(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from worker.settings import Settings, StorageSettings
    from worker.web import create_app

    created = _run(tmp_path, "tokens", "create", "nightly-report")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("brm_")
    assert "shown only now" in created.stderr
    assert "nightly-report  viewer" in _run(tmp_path, "tokens", "list").stdout
    settings = Settings(storage=StorageSettings(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    client = TestClient(create_app(settings))
    assert client.get("/api/deliveries", headers={"Authorization": f"Bearer {token}"}).json() == {"deliveries": []}
    assert _run(tmp_path, "tokens", "remove", "nightly-report").returncode == 0
    assert client.get("/api/deliveries", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_demo_prints_how_to_open_the_console_with_a_user_that_signs_in(tmp_path: Path) -> None:
    import re

    from fastapi.testclient import TestClient

    from tests.console.world import sign_in
    from worker.demo import demo_settings
    from worker.settings import Settings
    from worker.web import create_app

    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    done = subprocess.run(
        [BAROMETER, "demo", "--outbox", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "console: run `barometer web --demo`, open http://127.0.0.1:8040/ and sign in as" in done.stdout
    found = re.search(r"^  demo / (\S+)   \(a new password", done.stdout, re.MULTILINE)
    assert found is not None
    url = f"sqlite:///{tmp_path / 'barometer-demo.db'}"
    settings = demo_settings(Settings(), outbox=tmp_path / "out", database_url=url, emails=())
    client = TestClient(create_app(settings))
    sign_in(client, "demo", found.group(1))
    assert "shop-search" in client.get("/").text
    assert '<option value="shop-search"' in client.get("/tuning").text
    # changes made on the command line are in the console's audit log too, with who
    env["BAROMETER_STORAGE__DATABASE_URL"] = url
    (tmp_path / "barometer.toml").write_text('[[properties]]\nname = "shop"\nsource = "demo"\n')
    for command in (["feedback", "1", "--label", "confirmed"], ["mute", "shop", "--for", "1d"], ["unmute", "1"]):
        ran = subprocess.run([BAROMETER, *command], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert ran.returncode == 0, ran.stderr
    page = client.get("/audit").text
    for action, target in (("label", "finding 1"), ("mute", "mute 1"), ("unmute", "mute 1")):
        assert re.search(rf"<td>cli:[^<]*</td><td>{action}</td><td>{target}</td>", page), action
