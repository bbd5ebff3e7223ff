"""Tuning saved from the console changes what the daily run finds, for that property and metric only."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from jobs.detection.params import DirectionFilter
from jobs.storage.tables import FindingRow, PropertyRow
from tests.console.world import NOW
from worker import bootstrap, tuning
from worker.clock import ManualClock
from worker.demo import demo_settings
from worker.runtime import build as build_runtime
from worker.service import run_daily
from worker.settings import Settings


def _found(tmp: Path, *, saved: tuning.Knobs | None) -> dict[tuple[str, str], int]:
    tmp.mkdir()
    url = f"sqlite:///{tmp / 'run.db'}"
    settings = demo_settings(Settings(), outbox=tmp / "outbox", database_url=url, emails=())
    engine = bootstrap.engine(settings)
    if saved is not None:
        tuning.save(engine, "shop", "sessions", saved, actor="ana", now=NOW)
    run_daily(build_runtime(settings), now=ManualClock(NOW))
    f, p = FindingRow.__table__, PropertyRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.name, f.c.metric, sa.func.count()).join(p).group_by(p.c.name, f.c.metric))
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def test_the_daily_run_applies_the_saved_tuning(tmp_path: Path) -> None:
    plain = _found(tmp_path / "plain", saved=None)
    tuned = _found(tmp_path / "tuned", saved=tuning.Knobs(0.01, 5.0, DirectionFilter.BOTH))
    assert plain.get(("shop", "sessions"), 0) > 0
    assert tuned.get(("shop", "sessions"), 0) == 0  # nothing moves by 500%
    assert tuned.get(("shop-search", "clicks")) == plain.get(("shop-search", "clicks"))  # other properties as before
    engine = bootstrap.engine(
        demo_settings(Settings(), outbox=tmp_path, database_url=f"sqlite:///{tmp_path / 'tuned' / 'run.db'}", emails=())
    )
    assert tuning.describe(engine) == [
        "tuning shop/sessions: sensitivity=0.01, min_change_pct=5.0, direction=both (saved by ana at 2026-11-20 07:00)"
    ]
