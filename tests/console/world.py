"""A console on a real database: the demo's data, users of each role, a fake clock.

:func:`build_world` runs ``barometer demo``'s pipeline into a fresh SQLite (or
PostgreSQL) database at a fixed time, adds a hostile finding (a page named
``<script>...`` with a bidi override), and creates a viewer, an analyst and an admin.
:func:`sign_in` signs a TestClient in through the real ``/login`` form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from jobs.domain import Anomaly, ChartData, Direction, Finding, Kind, Severity
from jobs.storage import repo
from worker import bootstrap
from worker.clock import ManualClock
from worker.demo import demo_settings, run_demo
from worker.settings import Settings
from worker.web import create_app
from worker.web.users import Role, add_user

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
HOSTILE = "landingPage:/<script>alert(1)</script>/\u202egnp.exe"


@dataclass
class World:
    settings: Settings
    engine: sa.Engine
    clock: ManualClock
    outbox: Path
    hostile_id: int

    def app(self, **changes: object) -> FastAPI:
        settings = self.settings
        if changes:
            settings = settings.model_copy(update={"web": settings.web.model_copy(update=changes)})
        return create_app(settings, now=self.clock)


def build_world(tmp: Path, database_url: str = "") -> World:
    clock = ManualClock(NOW)
    url = database_url or f"sqlite:///{tmp / 'console.db'}"
    outbox = tmp / "outbox"
    if not url.startswith("sqlite"):
        from worker import db

        db.upgrade(db.create_engine(url))
    run_demo(Settings(), outbox=outbox, database_url=url, now=clock)
    settings = demo_settings(Settings(), outbox=outbox, database_url=url, emails=())
    engine = bootstrap.engine(settings)
    for name, role in (("vera", Role.VIEWER), ("ana", Role.ANALYST), ("adam", Role.ADMIN)):
        add_user(engine, name, role=role, password=PASSWORD, now=clock())
    return World(settings, engine, clock, outbox, _hostile_finding(engine))


def _hostile_finding(engine: sa.Engine) -> int:
    prop_id = repo.property_id(engine, "shop")
    assert prop_id is not None
    day = date(2026, 11, 18)
    dates = tuple(date.fromordinal(day.toordinal() - 13 + i) for i in range(14))
    chart = ChartData(dates, (100.0,) * 13 + (20.0,), (100.0,) * 14, (80.0,) * 14, (120.0,) * 14)
    anomaly = Anomaly(
        property="shop", series=HOSTILE, metric="sessions", day=day, observed=20.0, expected=100.0,
        lower=80.0, upper=120.0, p_value=1e-9, q_value=1e-7, direction=Direction.DOWN, kind=Kind.DROP,
    )  # fmt: skip
    saved = repo.save_findings(engine, prop_id, [Finding(anomaly, Severity.CRITICAL, chart=chart)])
    found_id = saved[0].id
    assert found_id is not None
    return found_id


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the form; return the CSRF token of the page it lands on."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/login", data={"username": name, "password": password, "login_token": token.group(1), "next": "/"}
    )
    assert response.status_code in (200, 303), response.text[:500]
    assert "Wrong user name" not in response.text
    return csrf_of(client.get("/mutes").text)


def api_json(client: TestClient, path: str) -> dict[str, object]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return dict(json.loads(response.text))
