"""A big property scored in chunks by two real ``celery worker`` processes (one process
each) on real Redis stores exactly the findings one process stores for it alone; a chunk
whose data is lost fails the run visibly (job-run row, ``ok: false``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import sqlalchemy as sa

from tests.faults.harness import WorkerProcess, launch
from worker import chunked, service
from worker.celery_app import app, configure
from worker.commands import import_csv
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings
from worker.tasks import chunk_chord, digest

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300)]

DAY = date(2026, 11, 18)
DAYS = 70
PAGES = 1_200
CHUNK = 160  # 1,204 series: 8 chunks

CONFIG = """
[storage]
database_url = "sqlite:///{db}"
[broker]
url = "{redis_url}"
[detection]
chunk_series = {chunk}
[logging]
level = "INFO"
[outbox]
dir = "{outbox}"
[[properties]]
name = "big"
source = "csv"
[[subscriptions]]
name = "team"
properties = ["big"]
"""


def _csv(path: Path) -> Path:
    """Counts with collapses and spikes on the last day, a CTR drop, a ranking loss."""
    rng = np.random.default_rng(4)
    devices = [f"device:{d}" for d in ("desktop", "mobile", "tablet")]
    series = ["total", *devices, *(f"page:/p{i}" for i in range(PAGES))]
    dates = [DAY - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    weekday = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[[d.weekday() for d in dates]]
    levels = rng.gamma(1.2, 120.0, size=len(series)).round() + 3.0

    def counts(scale: float) -> np.ndarray:
        mean = levels[:, None] * scale * weekday[None, :]
        values: np.ndarray = rng.poisson(rng.gamma(1 / 0.03, mean * 0.03)).astype(np.float64)
        values[5:12, -1] *= 0.2
        values[40:45, -1] *= 3.0
        values[0] = values[1:].sum(axis=0)
        return values

    impressions = counts(20.0)
    rate = np.clip(rng.beta(4, 60, size=(len(series), 1)), 0.005, 0.5) * np.ones((1, DAYS))
    rate[80:86, -1] *= 0.4
    clicks = rng.binomial(impressions.astype(np.int64), rate).astype(np.float64)
    clicks[0] = clicks[1:].sum(axis=0)
    position = 8.0 + rng.normal(0.0, 0.4, size=(len(series), DAYS)) + rng.uniform(0, 20, size=(len(series), 1))
    position[130:134, -1] += 7.0
    lines = ["date,series,metric,value"]
    for metric, values in (
        ("sessions", counts(1.0)),
        ("impressions", impressions),
        ("clicks", clicks),
        ("position", position.round(2)),
    ):
        for j, day in enumerate(dates):
            lines += [f"{day},{name},{metric},{values[i, j]:g}" for i, name in enumerate(series)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _settings(tmp_path: Path, name: str, redis_url: str, chunk: int) -> tuple[Path, Settings]:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        CONFIG.format(db=tmp_path / f"{name}.db", redis_url=redis_url, chunk=chunk, outbox=tmp_path / name)
    )
    return config, load_settings(config)


def _findings(settings: Settings) -> list[tuple[Any, ...]]:
    """Every stored finding, as a user would read it (ids and write times aside)."""
    engine = sa.create_engine(settings.storage.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT day, series, metric, kind, direction, severity, observed, expected, lower, upper, "
                "p_value, q_value, dedupe_key, detail FROM finding ORDER BY dedupe_key"
            )
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def _runs(settings: Settings) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(settings.storage.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT job, status, detail FROM job_run ORDER BY id")
            return [(str(j), str(s), str(d)) for j, s, d in rows]
    finally:
        engine.dispose()


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[Settings, Settings]]:
    """(chunked, single): the same imported property in two databases; two workers on the first."""
    config, chunked_settings = _settings(tmp_path, "chunked", redis_url, CHUNK)
    _, single_settings = _settings(tmp_path, "single", redis_url, 0)
    import_csv(build_runtime(chunked_settings), _csv(tmp_path / "big.csv"), property_name="big")
    shutil.copy(tmp_path / "chunked.db", tmp_path / "single.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAROMETER_", "SENTRY_"))}
    env["BAROMETER_CONFIG"] = str(config)
    workers = [
        WorkerProcess(
            ["worker", "-n", f"{name}@%h", "-P", "prefork", "-c", "1", "--without-gossip", "--without-mingle"],
            env,
            tmp_path / f"{name}.log",
        )
        for name in ("w1", "w2")
    ]
    configure(app, chunked_settings)
    launch(*workers)
    try:
        yield chunked_settings, single_settings
    finally:
        for process in workers:
            process.stop()


def test_two_workers_score_chunks_and_store_the_findings_of_one(stack: tuple[Settings, Settings]) -> None:
    chunked_settings, single_settings = stack

    # as beat starts it: the digest's chord waits for the property's run, itself a chord now
    started: dict[str, Any] = digest.delay("team").get(timeout=60)
    delivered: dict[str, Any] = app.AsyncResult(started["chord_id"]).get(timeout=240)
    outcome: dict[str, Any] = app.AsyncResult(started["runs"]["big"]).get(timeout=10)

    assert outcome["ok"], outcome
    assert outcome["data_date"] == DAY.isoformat()
    assert [c["chunk"] for c in outcome["chunks"]] == list(range(8))
    assert all(c["ok"] for c in outcome["chunks"])
    assert {c["worker"].split("@")[0] for c in outcome["chunks"]} == {"w1", "w2"}

    assert (delivered["sent"], delivered["failed"]) == (1, 0)  # the outbox file

    single = service.run_property(build_runtime(single_settings), "big")
    assert single.findings == outcome["findings"] > 10
    assert _findings(chunked_settings) == _findings(single_settings)
    assert {metric for (_, _, metric, *_rest) in _findings(chunked_settings)} >= {"sessions", "ctr", "position"}
    runs = [r for r in _runs(chunked_settings) if r[0] == "run_property"]
    assert runs == [("run_property", "ok", "")] * 2  # the split, the join
    keys = redis.Redis.from_url(chunked_settings.broker.url).keys("barometer:chunks:*")
    assert keys == []  # inputs dropped by the chunks, fits by the join


def test_a_chunk_whose_data_is_lost_fails_the_run_visibly(stack: tuple[Settings, Settings]) -> None:
    chunked_settings, _ = stack
    runtime = build_runtime(chunked_settings)
    split = chunked.split(runtime, "big", data_date=None, today=None, run="lost-chunk")
    client = redis.Redis.from_url(chunked_settings.broker.url)
    assert client.delete("barometer:chunks:lost-chunk:in:2") == 1  # evicted, expired, flushed

    outcome: dict[str, Any] = chunk_chord(split).apply_async().get(timeout=240)

    assert not outcome["ok"]
    assert outcome["error"].startswith("ChunkFailed: chunk 3 of 8 failed: ChunkFailed: chunk 3: its inputs are gone")
    job, status, detail = _runs(chunked_settings)[-1]
    assert (job, status) == ("run_property", "failed")
    assert detail.startswith("ChunkFailed: chunk 3 of 8 failed")
    assert client.keys("barometer:chunks:lost-chunk:*") == []
