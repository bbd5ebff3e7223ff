"""Shared fixtures: real services (PostgreSQL, Redis), clean settings, temp databases.

Service tests need PostgreSQL and Redis on 127.0.0.1. On a laptop without them they skip
with a message; under CI (``CI=true``) or ``BAROMETER_REQUIRE_SERVICES=1`` an unreachable
service fails the test instead, so a green CI run always exercised them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("BAROMETER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BAROMETER_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _services_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("BAROMETER_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _need(service: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{service} is not reachable at {url}"
    if _services_required():
        pytest.fail(f"{message} (required under CI; .ci/run starts it)")
    pytest.skip(f"{message}: start it or set the URL to run this test")


@pytest.fixture(autouse=True)
def _clean_barometer_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's BAROMETER_* variables or ./barometer.toml."""
    for name in list(os.environ):
        if (
            name.startswith("BAROMETER_")
            and not name.startswith("BAROMETER_TEST_")
            and name != "BAROMETER_REQUIRE_SERVICES"
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'barometer.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    _need("PostgreSQL", POSTGRES_URL, 5432)
    name = f"barometer_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after the test.

    Several test runs may share one Redis (developers, parallel sessions): a run claims a
    free database number with a lease key in db 0 so no two runs flush each other's data.
    """
    _need("Redis", REDIS_URL, 6379)
    import redis

    base = REDIS_URL.rstrip("/")
    control = redis.Redis.from_url(f"{base}/0")
    token = uuid.uuid4().hex
    db = next((n for n in range(1, 16) if control.set(f"barometer-test:db:{n}", token, nx=True, ex=900)), None)
    if db is None:
        control.close()
        pytest.fail("no free Redis database number (1-15) for this test run")
    client = redis.Redis.from_url(f"{base}/{db}")
    client.flushdb()
    try:
        yield f"{base}/{db}"
    finally:
        client.flushdb()
        client.close()
        if control.get(f"barometer-test:db:{db}") == token.encode():
            control.delete(f"barometer-test:db:{db}")
        control.close()
