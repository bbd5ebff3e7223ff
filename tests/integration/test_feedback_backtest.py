"""Analysts' feedback and backtests against real databases and real detection."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs import pipeline
from jobs.detection.params import DetectionParams
from jobs.domain import Decomposition, Factor, Label, Observation, PointFlag, PropertySpec
from jobs.errors import BarometerError
from jobs.sources.demo import DemoSource
from jobs.storage import feedback, repo
from tests.fakes import DATA_DATE, finding
from worker import bootstrap, db
from worker.backtest import run_backtest
from worker.runtime import build as build_runtime
from worker.settings import load_settings

SPEC = PropertySpec(name="shop", source="demo", id="ga4")
NOW = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
DAY = DATA_DATE


def _points(prop_id: int, engine: sa.Engine, value: float = 590.0) -> None:
    repo.upsert_points(
        engine,
        prop_id,
        [
            Observation("shop", "total", "sessions", DAY, value),
            Observation("shop", "total", "keyEvents", DAY, 20.0),
            Observation("shop", "total", "sessions", DAY - timedelta(days=1), 1000.0),
            Observation("shop", "channel:Email", "sessions", DAY, 90.0),
        ],
    )


def _flags(engine: sa.Engine, prop_id: int) -> dict[tuple[str, str, date], int]:
    return {(o.series, o.metric, o.day): int(o.flags) for o in repo.iter_points(engine, prop_id, prop_name="shop")}


def test_expected_keeps_the_points_out_of_baselines_even_after_a_refetch(engine: sa.Engine) -> None:
    prop_id = repo.ensure_property(engine, SPEC)
    _points(prop_id, engine)
    decomposition = Decomposition(
        "keyEvents", 20.0, 40.0, (Factor("sessions", 590.0, 1000.0), Factor("cr", 0.03, 0.04))
    )
    (stored,) = repo.save_findings(engine, prop_id, [replace(finding(), decomposition=decomposition)])
    assert stored.id is not None
    assert repo.findings_for(engine, prop_id, DAY)[0].decomposition == decomposition

    result = feedback.record_feedback(engine, stored.id, Label.EXPECTED, note="spring sale ended", now=NOW)
    assert (result.series, result.metric, result.day, result.points) == ("total", "sessions", DAY, 2)
    flags = _flags(engine, prop_id)
    excluded = int(PointFlag.EXCLUDED)
    assert flags["total", "sessions", DAY] == excluded
    assert flags["total", "keyEvents", DAY] == excluded  # the product that moved with it
    assert flags["channel:Email", "sessions", DAY] == 0
    assert flags["total", "sessions", DAY - timedelta(days=1)] == 0

    _points(prop_id, engine, value=600.0)  # the day is fetched again: the mark stays, the value updates
    assert _flags(engine, prop_id)["total", "sessions", DAY] == excluded
    (panel,) = [
        p
        for p in repo.load_panels(
            engine, prop_id, prop_name="shop", start=DAY - timedelta(days=1), end=DAY, last_final=DAY
        )
        if p.metric == "sessions"
    ]
    assert math.isnan(panel.row("total")[1])
    assert panel.row("total")[0] == 1000.0

    again = feedback.record_feedback(engine, stored.id, Label.CONFIRMED, note="", now=NOW)  # changed their mind
    assert again.points == 2
    assert _flags(engine, prop_id)["total", "sessions", DAY] == 0
    labels = feedback.labels_between(engine, prop_id, start=DAY, end=DAY)
    assert [(lab.series, lab.metric, lab.label) for lab in labels] == [("total", "sessions", Label.CONFIRMED)]


def test_a_finding_that_does_not_exist_is_one_clear_error(engine: sa.Engine) -> None:
    with pytest.raises(BarometerError, match=r"^finding 4242 does not exist"):
        feedback.record_feedback(engine, 4242, Label.FALSE_ALARM, note="", now=NOW)


ANCHOR = date(2024, 5, 15)
CONFIG = """
[storage]
database_url = "{url}"
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
"""


def test_backtest_replays_weeks_and_counts_labelled_false_alarms(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "barometer.toml"
    config.write_text(CONFIG.format(url=sqlite_url))
    settings = load_settings(config)
    engine = bootstrap.engine(settings)
    db.upgrade(engine)
    prop_id = repo.ensure_property(engine, SPEC)
    start = ANCHOR - timedelta(days=150)
    repo.upsert_points(engine, prop_id, DemoSource(anchor=ANCHOR).fetch(SPEC, start=start, end=ANCHOR))
    repo.set_fetched_through(engine, prop_id, ANCHOR)
    params = DetectionParams()
    fired = pipeline.detect_day(engine, SPEC, params, day=ANCHOR - timedelta(days=45), last_final=ANCHOR)
    email = next(f for f in fired if f.anomaly.series == "sessionDefaultChannelGroup:Email")
    assert email.id is not None
    feedback.record_feedback(engine, email.id, Label.FALSE_ALARM, note="the newsletter, every month", now=NOW)

    chart = tmp_path / "weeks.png"
    report = run_backtest(build_runtime(settings), "shop", days=56, chart=chart)
    assert report.end == ANCHOR
    assert report.start == ANCHOR - timedelta(days=55)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.labelled == {"false_alarm": 1}
    assert report.false_alarms_firing == 1
    rows = {(r.week, r.metric): r for r in report.rows}
    email_week = rows[f"{email.anomaly.day.isocalendar()[0]}-W{email.anomaly.day.isocalendar()[1]:02d}", "sessions"]
    assert email_week.false_alarms == 1
    assert email_week.kinds.get("spike", 0) >= 1
    anchor_week = rows["2024-W20", "keyEvents"]  # the conversion tag removed on the anchor
    assert anchor_week.kinds == {"outage": 1}
    assert anchor_week.severities == {"critical": 1}
    text = "\n".join(report.lines())
    assert "labelled in this window: 1 (1 false alarm(s), 1 still firing)" in text
    # the label raised the series' bar, within bounds: so clear a spike (p ~1e-16) still fires
    assert (
        "learned: sessions sessionDefaultChannelGroup:Email: max_p_value 3e-05 -> 3e-08 "
        "(1 false alarm(s), 0 confirmed)" in text
    )
    assert sum(r.findings for r in report.rows) == len(report.findings)

    with pytest.raises(BarometerError, match="--days must be at least 1"):
        run_backtest(build_runtime(settings), "shop", days=0)
