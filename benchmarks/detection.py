"""Detection benchmarks (issue 3's speed goals), registered by ``benchmarks.__main__``.

- ``detect_csv``: ``barometer detect`` as a real subprocess on the newest day of a CSV of
  100,000 series x 91 days (9.1M rows); wall time and the child's peak RSS
  (``RUSAGE_CHILDREN``). Goal: <= 5 s and <= 1.5 GB on 2 cores.
- ``walk_forward``: a 56-day walk-forward (``detect_range``) over 600 series. Goal: <= 3 s.
- ``pipeline_sqlite``: the daily pipeline's detection step (load the history from SQLite,
  detect, store the findings) for 100,000 series. Goal: <= 10 s.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from jobs.domain import TOTAL_SERIES, MetricPanel, PropertySpec

__all__ = ["BENCHMARKS"]

END = date(2026, 6, 30)
_WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])


def _values(n_series: int, n_days: int, *, seed: int) -> np.ndarray:
    """Seasonal negative-binomial counts, the first row the sum of the others, a few incidents."""
    rng = np.random.default_rng(seed)
    dates = [END - timedelta(days=n_days - 1 - i) for i in range(n_days)]
    level = rng.gamma(2.0, 60.0, size=(n_series, 1))
    mean = level * _WEEKDAY[[d.weekday() for d in dates]][None, :]
    values = rng.negative_binomial(20, 20 / (20 + mean)).astype(np.int64)
    hit = rng.choice(np.arange(1, n_series), size=max(1, n_series // 1000), replace=False)
    values[hit, -1] = values[hit, -1] * 4 + 50  # some spikes on the newest day
    values[0] = values[1:].sum(axis=0)
    return np.asarray(values, dtype=np.int64)


def _names(n: int) -> list[str]:
    return [TOTAL_SERIES] + [f"landingPage:/p{i}" for i in range(n - 1)]


def _write_csv(path: Path, values: np.ndarray) -> int:
    names = _names(values.shape[0])
    n_days = values.shape[1]
    with path.open("w", encoding="utf-8") as out:
        out.write("date,series,metric,value\n")
        for j in range(n_days):
            day = (END - timedelta(days=n_days - 1 - j)).isoformat()
            out.write("".join(f"{day},{s},sessions,{v}\n" for s, v in zip(names, values[:, j].tolist(), strict=True)))
    return values.size


def detect_csv(tmp: Path) -> str:
    path = tmp / "100k.csv"
    rows = _write_csv(path, _values(100_000, 91, seed=1))
    barometer = str(Path(sys.executable).with_name("barometer"))
    started = time.perf_counter()
    done = subprocess.run(
        [barometer, "detect", str(path), "-o", str(tmp / "out.jsonl")],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    found = done.stdout.split()[0]
    return (
        f"barometer detect, newest day of 100,000 series x 91 days ({rows:,} rows, "
        f"{path.stat().st_size / 1e6:,.0f} MB CSV): {wall:.2f}s wall, child peak RSS {child_mb:,.0f} MB, "
        f"{found} findings (goal <= 5 s, <= 1,536 MB)"
    )


def walk_forward(tmp: Path) -> str:
    from jobs.detection.engine import detect_range
    from jobs.detection.params import DetectionParams

    n_days = 150
    values = _values(600, n_days, seed=2).astype(np.float64)
    dates = tuple(END - timedelta(days=n_days - 1 - i) for i in range(n_days))
    panel = MetricPanel("bench", "sessions", tuple(_names(600)), dates, values, last_final=END)
    started = time.perf_counter()
    found = detect_range([panel], DetectionParams(), start=dates[-56], end=dates[-1])
    wall = time.perf_counter() - started
    return f"56-day walk-forward over 600 series: {wall:.2f}s, {len(found)} findings (goal <= 3 s)"


def _seed_sqlite(path: Path, values: np.ndarray) -> int:
    """Bulk-load points the fast way (bench setup, not what is measured): raw inserts, the
    index built once at the end."""
    from jobs.storage import repo
    from worker import db

    engine = db.create_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    prop_id = repo.ensure_property(engine, PropertySpec("bench", "csv"))
    engine.dispose()
    names = _names(values.shape[0])
    n_days = values.shape[1]
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("DROP INDEX ix_metric_point_metric_day")
    for j in range(n_days):
        day = (END - timedelta(days=n_days - 1 - j)).isoformat()
        con.executemany(
            "INSERT INTO metric_point (property_id, metric, series, day, value, flags) "
            "VALUES (?, 'sessions', ?, ?, ?, 0)",
            ((prop_id, s, day, float(v)) for s, v in zip(names, values[:, j].tolist(), strict=True)),
        )
    con.execute(
        "CREATE INDEX ix_metric_point_metric_day ON metric_point (property_id, metric, day, series, value, flags)"
    )
    con.commit()
    con.close()
    return prop_id


def pipeline_sqlite(tmp: Path) -> str:
    from jobs import pipeline
    from jobs.detection.params import DetectionParams
    from worker import db

    params = DetectionParams()
    values = _values(100_000, pipeline.history_days(params) + 1, seed=3)
    path = tmp / "pipeline.db"
    _seed_sqlite(path, values)
    engine = db.create_engine(f"sqlite:///{path}")
    spec = PropertySpec("bench", "csv")
    started = time.perf_counter()
    found = pipeline.detect_day(engine, spec, params, day=END, last_final=END)
    wall = time.perf_counter() - started
    return (
        f"daily pipeline detection from SQLite, 100,000 series x {values.shape[1]} days "
        f"({values.size:,} points): {wall:.2f}s, {len(found)} findings stored (goal <= 10 s)"
    )


BENCHMARKS: tuple[Callable[[Path], str], ...] = (detect_csv, walk_forward, pipeline_sqlite)
