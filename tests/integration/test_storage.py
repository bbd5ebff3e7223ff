"""Storage against real databases: migrations, bulk upserts, findings and digests."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from alerts.render.email import render_email
from jobs.domain import (
    Anomaly,
    ChartData,
    Contributor,
    Decomposition,
    Digest,
    Direction,
    Factor,
    Finding,
    Kind,
    Observation,
    PointFlag,
    PropertySpec,
    Severity,
)
from jobs.storage import repo
from jobs.storage.runs import latest_failures, recorded
from worker import db

SPEC = PropertySpec(name="shop", source="demo", id="ga4")
DAY = date(2026, 3, 10)
SENDER, TO = "barometer@example.com", "team@shop.example"


def _finding(series: str = "total", observed: float = 40.0) -> Finding:
    anomaly = Anomaly(
        property="shop",
        series=series,
        metric="sessions",
        day=DAY,
        observed=observed,
        expected=100.0,
        lower=80.0,
        upper=120.0,
        p_value=1e-6,
        q_value=None,
        direction=Direction.DOWN,
        kind=Kind.DROP,
    )
    chart = ChartData(
        dates=(DAY - timedelta(days=1), DAY),
        actual=(101.0, observed),
        expected=(100.0, 100.0),
        lower=(80.0, math.nan),
        upper=(120.0, 120.0),
    )
    contributors = (Contributor("sessionDefaultChannelGroup:Organic Search", 10.0, 65.0, 0.9),)
    return Finding(anomaly, Severity.HIGH, contributors, chart)


def test_migrations_reach_head_and_are_idempotent(engine: sa.Engine) -> None:
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert {"property", "metric_point", "finding", "digest", "delivery", "llm_call", "feedback", "job_run"} <= tables


def test_points_upsert_replaces_settling_days_and_loads_as_panels(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    first = [
        Observation("shop", "total", "sessions", DAY - timedelta(days=1), 100.0),
        Observation("shop", "total", "sessions", DAY, 60.0, PointFlag.INCOMPLETE),
        Observation("shop", "landingPage:/a", "sessions", DAY, 7.0),
    ]
    assert repo.upsert_points(engine, prop_id, first) == 3
    # The next run re-fetches the settling day: now final, with its full count.
    assert repo.upsert_points(engine, prop_id, [Observation("shop", "total", "sessions", DAY, 98.0)]) == 1

    stored = list(repo.iter_points(engine, prop_id, prop_name="shop"))
    assert [(o.series, o.day, o.value, o.flags) for o in stored] == [
        ("total", DAY - timedelta(days=1), 100.0, PointFlag.NONE),
        ("landingPage:/a", DAY, 7.0, PointFlag.NONE),
        ("total", DAY, 98.0, PointFlag.NONE),
    ]
    (panel,) = repo.load_panels(
        engine, prop_id, prop_name="shop", start=DAY - timedelta(days=2), end=DAY, last_final=DAY
    )
    assert panel.series == ("total", "landingPage:/a")  # the total first, then children by name
    assert panel.dates[0] == DAY - timedelta(days=2)
    assert math.isnan(panel.values[0, 0])
    assert panel.values[0, 1:].tolist() == [100.0, 98.0]
    assert math.isnan(panel.values[1, 1])
    assert panel.values[1, 2] == 7.0
    assert repo.latest_day(engine, prop_id) == DAY


def test_the_latest_day_is_the_newest_of_any_metric_and_none_without_points(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    other = repo.ensure_property(engine, PropertySpec(name="other", source="demo", id="ga4-2"))
    assert repo.latest_day(engine, prop_id) is None
    repo.upsert_points(
        engine,
        prop_id,
        [Observation("shop", "total", m, DAY - timedelta(days=n), 1.0) for m, n in (("a", 5), ("m", 1), ("z", 9))],
    )
    repo.upsert_points(engine, other, [Observation("other", "total", "m", DAY + timedelta(days=3), 1.0)])
    assert repo.latest_day(engine, prop_id) == DAY - timedelta(days=1)
    assert repo.latest_day(engine, other) == DAY + timedelta(days=3)
    from jobs.storage.points import stored_metrics

    assert stored_metrics(engine, prop_id) == ("a", "m", "z")
    assert stored_metrics(engine, other) == ("m",)
    assert stored_metrics(engine, 999) == ()


def test_flagged_points_are_missing_in_panels(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    repo.upsert_points(engine, prop_id, [Observation("shop", "total", "sessions", DAY, 5.0, PointFlag.THRESHOLDED)])
    (panel,) = repo.load_panels(engine, prop_id, prop_name="shop", start=DAY, end=DAY, last_final=DAY)
    assert math.isnan(panel.values[0, 0])


def test_bulk_upsert_of_many_points(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    rows = [
        Observation("shop", f"landingPage:/p{i}", "sessions", DAY - timedelta(days=d), float(i + d))
        for i in range(400)
        for d in range(30)
    ]
    assert repo.upsert_points(engine, prop_id, rows) == 12_000
    assert repo.upsert_points(engine, prop_id, rows) == 12_000
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from metric_point")).scalar() == 12_000


def test_findings_round_trip_and_rerun_keeps_ids(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    saved = repo.save_findings(engine, prop_id, [_finding(), _finding("landingPage:/<b>x</b>", 3.0)])
    assert all(f.id is not None for f in saved)
    again = repo.save_findings(engine, prop_id, [_finding(observed=42.0)])
    assert again[0].id == saved[0].id

    loaded = repo.findings_for(engine, prop_id, DAY)
    assert [f.anomaly.series for f in loaded] == ["total", "landingPage:/<b>x</b>"]
    assert loaded[0].anomaly.observed == 42.0
    assert loaded[0].contributors == _finding().contributors
    assert loaded[0].chart is not None
    assert loaded[0].chart.actual == (101.0, 42.0)
    assert math.isnan(loaded[0].chart.lower[1])


def test_first_digest_of_a_day_wins(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    findings = repo.save_findings(engine, prop_id, [_finding()])
    now = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    digest = Digest("marketing", DAY, ("shop",), findings, "1 change on shop", "Sessions down.", now)
    stored = repo.save_digest(engine, digest)
    assert stored.id is not None
    assert stored.findings == findings
    assert stored.generated_at == now

    rebuilt = Digest("marketing", DAY, ("shop",), (), "All quiet", "Nothing.", now + timedelta(hours=1))
    assert repo.save_digest(engine, rebuilt) == stored
    assert repo.load_digest(engine, stored.id) == stored
    assert repo.find_digest(engine, "marketing", DAY + timedelta(days=1)) is None


def test_job_runs_record_failures_with_one_line(engine: sa.Engine) -> None:
    with recorded(engine, job="run_property", target="shop", data_date=DAY):
        pass
    with pytest.raises(RuntimeError), recorded(engine, job="run_property", target="blog", data_date=DAY):
        raise RuntimeError("token revoked\nsecond line")
    assert latest_failures(engine, job="run_property", targets=["shop", "blog"], data_date=DAY) == {
        "blog": "RuntimeError: token revoked"
    }


def test_a_decomposition_reads_back_exactly_and_renders_the_same_line(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    ctr = 113 / 11857  # 0.00953023530...: six decimals would make it 0.00953
    anomaly = replace(_finding().anomaly, series="query:<b>", metric="ctr", observed=ctr, expected=0.0208716)
    split = Decomposition(
        "clicks", 113.0, 263.34, (Factor("impressions", 11857.0, 12617.09), Factor("ctr", ctr, 0.0208716))
    )
    rare = Decomposition(
        "keyEvents", 3.0, 4.9, (Factor("sessions", 24310.0, 24400.0), Factor("conversion rate", 3 / 24310, 4.9 / 24400))
    )
    findings = [
        replace(_finding(), anomaly=anomaly, decomposition=split),
        replace(_finding("total"), decomposition=rare),
    ]
    saved = repo.save_findings(engine, prop_id, findings)
    now = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    stored = repo.save_digest(engine, Digest("marketing", DAY, ("shop",), saved[:1], "h", "s", now))

    loaded = repo.findings_for(engine, prop_id, DAY)
    assert [f.decomposition for f in loaded] == [split, rare]
    assert stored.findings[0].decomposition == split
    assert stored.findings[0].decomposition.factors[1].observed == stored.findings[0].anomaly.observed
    before = render_email(
        Digest("marketing", DAY, ("shop",), tuple(saved[:1]), "h", "s", now), sender=SENDER, recipient=TO
    )
    after = render_email(stored, sender=SENDER, recipient=TO)
    line = "Clicks fell 57% because of a lower CTR (0.95% instead of about 2.1%)"
    for message in (before, after):
        text = message.get_body(("plain",))
        assert text is not None
        assert line in str(text.get_content())
