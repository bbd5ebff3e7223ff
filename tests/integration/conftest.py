"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from worker import db


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated database, once SQLite and once PostgreSQL (a test module may define its own)."""
    created = db.create_engine(request.getfixturevalue(f"{request.param}_url"))
    db.upgrade(created)
    yield created
    created.dispose()
