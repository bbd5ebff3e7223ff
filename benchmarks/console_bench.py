"""``make bench``: the analyst console's server time, beside a yardstick from the same run.

* ``console_pages``: 100,000 findings (with labels on 5%) in PostgreSQL (SQLite when no
  server answers at ``BAROMETER_TEST_POSTGRES_URL``); the median server time of the
  ``/findings`` first page, a filtered page, the 200th page, and one finding's page, each
  through the real app (sign-in, session lookup, query, template). Yardstick: ``/healthz``
  (one ``SELECT 1`` through the same app).
* ``tuning_preview``: a property of 10,000 series x 126 days of sessions; the median of
  the 8-week preview (two walk-forward replays and the comparison). Yardstick: one 8-week
  replay with the current settings (what ``barometer backtest --days 56`` computes).

Sizes: ``BAROMETER_BENCH_FINDINGS`` and ``BAROMETER_BENCH_SERIES`` make them smaller while iterating.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import sqlalchemy as sa

from jobs.domain import TOTAL_SERIES, ChartData, Observation, PropertySpec
from jobs.storage import repo
from jobs.storage.codec import encode_detail
from jobs.storage.tables import FeedbackRow, FindingRow
from worker import bootstrap, db

__all__ = ["BENCHMARKS"]

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
PASSWORD = "bench password 123"


@contextmanager
def _database(tmp: Path) -> Iterator[tuple[str, str]]:
    """A fresh database URL and its kind: a new PostgreSQL database when one answers, else SQLite."""
    server = os.environ.get("BAROMETER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parts = urlsplit(server.replace("+psycopg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            pass
    except OSError:
        yield f"sqlite:///{tmp / 'console.db'}", "SQLite (no PostgreSQL answered)"
        return
    name = f"barometer_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url, "PostgreSQL"
    finally:
        bootstrap.forget_engine(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _median_ms(call: Callable[[], object], *, runs: int = 15) -> float:
    call()  # warm: caches, prepared plans
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _seed_findings(engine: sa.Engine, count: int) -> int:
    rng = np.random.default_rng(7)
    prop_ids = [repo.ensure_property(engine, PropertySpec(f"site{i}", "demo")) for i in range(5)]
    last = date(2026, 11, 18)
    days = [last - timedelta(days=int(d)) for d in rng.integers(0, 365, count)]
    dates = tuple(last - timedelta(days=55 - i) for i in range(56))
    chart = ChartData(dates, *(tuple(float(v) for v in rng.normal(100, 10, 56)) for _ in range(4)))
    rich = encode_detail((), chart)
    kinds, sevs = ("spike", "drop", "level_shift", "outage"), ("low", "medium", "high", "critical")
    table = FindingRow.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for i in range(count):
            observed = float(rng.gamma(2, 50))
            batch.append(
                {
                    "property_id": prop_ids[i % 5],
                    "day": days[i],
                    "series": f"landingPage:/p{i % 20_000}",
                    "metric": ("sessions", "keyEvents", "clicks")[i % 3],
                    "kind": kinds[i % 4],
                    "direction": "down" if i % 2 else "up",
                    "severity": sevs[i % 4],
                    "observed": observed,
                    "expected": observed * 1.4,
                    "lower": observed * 1.2,
                    "upper": observed * 1.6,
                    "p_value": 1e-6,
                    "q_value": 1e-4,
                    "dedupe_key": f"k{i}",
                    "detail": rich if i % 50 == 0 else "{}",
                    "created_at": NOW,
                }
            )
            if len(batch) == 5000:
                conn.execute(sa.insert(table), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(table), batch)
        ids = [int(r[0]) for r in conn.execute(sa.select(table.c.id).order_by(table.c.id))]
        fb = FeedbackRow.__table__  # type: ignore[attr-defined]
        labels = [{"finding_id": i, "label": "false_alarm", "note": "", "created_at": NOW} for i in ids[::20]]
        conn.execute(sa.insert(fb), labels)
        for prop_id in prop_ids:
            conn.execute(sa.text("UPDATE property SET fetched_through = :d WHERE id = :p"), {"d": last, "p": prop_id})
    return ids[0]


def console_pages(tmp: Path) -> str:
    from fastapi.testclient import TestClient

    from tests.console.world import sign_in
    from worker.settings import Settings, StorageSettings
    from worker.web import create_app
    from worker.web.users import Role, add_user

    count = int(os.environ.get("BAROMETER_BENCH_FINDINGS", "100000"))
    with _database(tmp) as (url, kind):
        engine = db.create_engine(url)
        db.upgrade(engine)
        started = time.perf_counter()
        first_id = _seed_findings(engine, count)
        seeded = time.perf_counter() - started
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        add_user(engine, "bench", role=Role.ANALYST, password=PASSWORD, now=NOW)
        engine.dispose()
        app = create_app(Settings(storage=StorageSettings(database_url=url)), now=lambda: NOW)
        client = TestClient(app)
        sign_in(client, "bench", PASSWORD)

        def get(path: str) -> Callable[[], object]:
            def call() -> object:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                return response

            return call

        rich = first_id  # every 50th finding carries chart data; the first one does
        figures = {
            "healthz (yardstick)": _median_ms(get("/healthz")),
            "/findings first page": _median_ms(get("/findings")),
            "/findings?severity=critical&state=open": _median_ms(get("/findings?severity=critical&state=open")),
            "/findings page 200": _median_ms(get("/findings?page=200")),
            f"/findings/{rich}": _median_ms(get(f"/findings/{rich}")),
        }
        client.close()
        bootstrap.forget_engine(url)
    shown = ", ".join(f"{name} {ms:.0f} ms" for name, ms in figures.items())
    return f"{count:,} findings in {kind} (seeded in {seeded:.0f}s); median server time: {shown} (goal: < 150 ms)"


def tuning_preview(tmp: Path) -> str:
    from jobs.detection import threads
    from jobs.detection.engine import walk
    from jobs.detection.params import DetectionParams, DirectionFilter
    from jobs.pipeline import history_days
    from worker import tuning

    n_series = int(os.environ.get("BAROMETER_BENCH_SERIES", "10000"))
    n_days = 126
    with _database(tmp) as (url, kind):
        engine = db.create_engine(url)
        db.upgrade(engine)
        prop_id = repo.ensure_property(engine, PropertySpec("big", "demo"))
        rng = np.random.default_rng(3)
        end = date(2026, 11, 18)
        dates = [end - timedelta(days=n_days - 1 - i) for i in range(n_days)]
        weekday = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[[d.weekday() for d in dates]]
        level = rng.gamma(2.0, 40.0, size=(n_series, 1))
        values = rng.negative_binomial(20, 20 / (20 + level * weekday[None, :])).astype(np.float64)
        values[0] = values[1:].sum(axis=0)
        names = [TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(n_series - 1))]
        started = time.perf_counter()
        for lo in range(0, n_series, 1000):
            repo.upsert_points(
                engine,
                prop_id,
                (
                    Observation("big", names[s], "sessions", dates[d], float(values[s, d]))
                    for s in range(lo, min(lo + 1000, n_series))
                    for d in range(n_days)
                ),
            )
        repo.set_fetched_through(engine, prop_id, end)
        seeded = time.perf_counter() - started
        base = DetectionParams()
        proposed = tuning.Knobs(0.05, 0.10, DirectionFilter.BOTH)
        result: list[tuning.Preview] = []
        preview_ms = _median_ms(
            lambda: result.append(tuning.preview(base, engine, "big", "sessions", proposed, weeks=8)), runs=3
        )

        def yardstick() -> None:
            start = end - timedelta(days=55)
            panels = repo.load_panels(
                engine, prop_id, prop_name="big", start=start - timedelta(days=history_days(base)), end=end,
                last_final=end, metrics=("sessions",),
            )  # fmt: skip
            walk(panels, base, start=start, end=end)

        replay_ms = _median_ms(yardstick, runs=3)
        engine.dispose()
        bootstrap.forget_engine(url)
    last = result[-1]
    return (
        f"{n_series:,} series x {n_days} days in {kind} (seeded in {seeded:.0f}s): "
        f"8-week preview {preview_ms / 1000:.2f}s "
        f"({len(last.under_current)} -> {len(last.under_proposed)} findings, +{len(last.added)} -{len(last.removed)}); "
        f"yardstick one 8-week replay {replay_ms / 1000:.2f}s (goal: preview < 3 s; "
        f"detection threads {threads.count}, loadavg {os.getloadavg()[0]:.1f})"
    )


BENCHMARKS = [console_pages, tuning_preview]
