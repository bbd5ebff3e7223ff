"""Migration 0002 and the state it holds (account authorisations, backfill progress) on
SQLite and PostgreSQL; a backfill that fails part-way resumes on both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from jobs.backfill import backfill
from jobs.domain import Observation, PropertySpec
from jobs.errors import SourceTransientError
from jobs.storage import accounts, progress, repo
from worker import db

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
SPEC = PropertySpec(name="search", source="gsc", id="sc-domain:shop.example", account="agency")


def test_migration_0002_upgrades_and_downgrades(engine: sa.Engine) -> None:
    assert db.current_revision(engine) == db.head_revision()
    assert {"google_account", "fetched_day"} <= set(sa.inspect(engine).get_table_names())
    config = db._config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")  # the revision before 0002 (later ones go down with it)
    tables = set(sa.inspect(engine).get_table_names())
    assert not {"google_account", "fetched_day"} & tables
    assert {"property", "metric_point", "alert_log"} <= tables  # the revisions below are untouched
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_tokens_are_replaced_and_a_rejection_is_reported_once(engine: sa.Engine) -> None:
    accounts.save_token(engine, "client", refresh_token="gAAA-enc-1", client_id="c1", scopes=("a", "b"), now=NOW)
    accounts.save_token(engine, "client", refresh_token="gAAA-enc-2", client_id="c1", scopes=("a",), now=NOW)
    stored = accounts.load_account(engine, "client")
    assert stored is not None
    assert (stored.refresh_token, stored.scopes, stored.status, stored.authorised_at) == (
        "gAAA-enc-2",
        ("a",),
        accounts.OK,
        NOW,
    )

    assert accounts.mark_rejected(engine, "client", kind="oauth", detail="invalid_grant", now=NOW) is True
    assert accounts.mark_rejected(engine, "client", kind="oauth", detail="invalid_grant", now=NOW) is False
    rejected = accounts.load_account(engine, "client")
    assert rejected is not None
    assert (rejected.status, rejected.detail, rejected.failed_at) == (accounts.NEEDS_REAUTH, "invalid_grant", NOW)
    assert accounts.mark_ok(engine, "client", now=NOW) is False  # only signing in again clears an OAuth user

    later = NOW + timedelta(days=1)
    accounts.save_token(engine, "client", refresh_token="gAAA-enc-3", client_id="c1", scopes=("a",), now=later)
    again = accounts.load_account(engine, "client")
    assert again is not None
    assert (again.status, again.failed_at) == (accounts.OK, None)


def test_a_service_account_becomes_ok_when_its_key_works_again(engine: sa.Engine) -> None:
    assert accounts.mark_rejected(engine, "agency", kind="service_account", detail="Invalid JWT", now=NOW) is True
    assert accounts.load_accounts(engine)["agency"].status == accounts.NEEDS_REAUTH
    assert accounts.mark_ok(engine, "agency", now=NOW) is True
    assert accounts.mark_ok(engine, "agency", now=NOW) is False
    assert accounts.load_accounts(engine)["agency"].status == accounts.OK


def test_progress_records_and_forgets_days(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(5)]
    progress.mark_done(engine, prop_id, days[:3], points=9)
    progress.mark_done(engine, prop_id, days[2:4], points=4)  # a day done twice is fine
    assert progress.done_days(engine, prop_id, start=days[0], end=days[-1]) == set(days[:4])
    assert progress.forget_days(engine, prop_id, start=days[1], end=days[2]) == 2
    assert progress.done_days(engine, prop_id, start=days[0], end=days[-1]) == {days[0], days[3]}


class _FlakySource:
    """Our own MetricSource protocol, faked: one point per day, failing on ``broken`` days."""

    def __init__(self, broken: set[date]) -> None:
        self.broken = broken
        self.asked: list[date] = []

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        return today - timedelta(days=3)

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        day = start
        while day <= end:
            self.asked.append(day)
            if day in self.broken:
                raise SourceTransientError(f"outage on {day}")
            yield Observation(spec.name, "total", "clicks", day, float(day.day))
            day += timedelta(days=1)


def test_backfill_resumes_where_it_stopped(engine: sa.Engine) -> None:
    start, end = date(2026, 2, 1), date(2026, 2, 20)
    source = _FlakySource(broken={date(2026, 2, 12)})
    with pytest.raises(SourceTransientError, match="outage on 2026-02-12"):
        backfill(engine, source, SPEC, start=start, end=end, chunk_days=5)
    prop_id = repo.property_id(engine, SPEC.name)
    assert prop_id is not None
    assert repo.fetched_through(engine, prop_id) is None  # incomplete: the daily run does not skip ahead
    assert len(progress.done_days(engine, prop_id, start=start, end=end)) == 10

    source.broken.clear()
    source.asked.clear()
    report = backfill(engine, source, SPEC, start=start, end=end, chunk_days=5)

    assert source.asked[0] == date(2026, 2, 11)  # the interrupted chunk is fetched again, not the done ones
    assert (report.days_loaded, report.days_skipped, report.points) == (10, 10, 10)
    assert len(list(repo.iter_points(engine, prop_id, prop_name=SPEC.name))) == 20
    assert repo.fetched_through(engine, prop_id) == end
