"""A big property scored in chunks by two real ``celery worker`` processes (one process
each) on real Redis stores exactly the findings one process stores for it alone, even when
one worker is killed (``kill -9``) in the middle of a chunk; a chunk whose data is lost
fails the run visibly (job-run row, ``ok: false``)."""

from __future__ import annotations

import json
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

from tests.fakes.redis_proxy import HoldingProxy
from tests.faults.harness import WorkerProcess, launch, wait_until
from worker import chunked, service
from worker.celery_app import VISIBILITY_TIMEOUT, app, configure
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


def _workers(tmp_path: Path, config: Path) -> list[WorkerProcess]:
    """Two real workers, w1 and w2, one pool process each, reading ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAROMETER_", "SENTRY_"))}
    env["BAROMETER_CONFIG"] = str(config)
    return [
        WorkerProcess(
            ["worker", "-n", f"{name}@%h", "-P", "prefork", "-c", "1", "--without-gossip", "--without-mingle"],
            env,
            tmp_path / f"{name}.log",
        )
        for name in ("w1", "w2")
    ]


def _imported(tmp_path: Path, redis_url: str) -> tuple[Settings, Settings]:
    """(chunked, single): the same imported property in two databases."""
    _, chunked_settings = _settings(tmp_path, "chunked", redis_url, CHUNK)
    _, single_settings = _settings(tmp_path, "single", redis_url, 0)
    import_csv(build_runtime(chunked_settings), _csv(tmp_path / "big.csv"), property_name="big")
    shutil.copy(tmp_path / "chunked.db", tmp_path / "single.db")
    return chunked_settings, single_settings


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[Settings, Settings]]:
    """(chunked, single): the same imported property in two databases; two workers on the first."""
    chunked_settings, single_settings = _imported(tmp_path, redis_url)
    workers = _workers(tmp_path, tmp_path / "chunked.toml")
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


#: A client's ``SET barometer:chunks:RUN:out:K`` (a chunk storing its fits), as RESP sends it.
_FITS_STORED = rb"\*\d+\r\n\$3\r\nSET\r\n\$\d+\r\nbarometer:chunks:[^\r]*:out:(\d+)\r\n"


def test_a_worker_killed_in_the_middle_of_a_chunk_leaves_it_to_the_other(tmp_path: Path, redis_url: str) -> None:
    """w1 and w2 reach Redis through a proxy that holds the first chunk's fits on their way
    in: that chunk is fitted but not stored nor acknowledged when its worker (main process
    and pool child) is killed with SIGKILL. Once Redis's visibility window has passed (the
    entry is aged, not waited for), the chunk goes to the other worker, and the findings
    are exactly those of the run in one process."""
    chunked_settings, single_settings = _imported(tmp_path, redis_url)
    proxy = HoldingProxy(redis_url, _FITS_STORED)
    proxied = tmp_path / "proxied.toml"
    proxied.write_text((tmp_path / "chunked.toml").read_text().replace(redis_url, proxy.url))
    workers = {w.log.stem: w for w in _workers(tmp_path, proxied)}
    configure(app, chunked_settings)  # this process talks to Redis directly
    launch(*workers.values())
    client = redis.Redis.from_url(redis_url)
    try:
        started: dict[str, Any] = digest.delay("team").get(timeout=60)
        assert proxy.held.wait(timeout=120), "no chunk stored its fits"
        assert proxy.match is not None
        chunk = int(proxy.match.group(1))

        def holder() -> tuple[str, str] | None:
            """(worker name, task id) of the held chunk, as the workers report it."""
            active = app.control.inspect(timeout=2).active() or {}
            for host, tasks in active.items():
                for task in tasks:
                    if task["name"] == "barometer.fit_chunk" and list(task["args"])[1] == chunk:
                        return host.split("@")[0], str(task["id"])
            return None

        wait_until(lambda: holder() is not None, seconds=60, what="the held chunk among the active tasks")
        found = holder()
        assert found is not None
        victim, task_id = found
        (survivor,) = set(workers) - {victim}
        run = str(started["runs"]["big"])
        # its inputs outlive the visibility window, so that the re-delivered chunk finds them
        ttl = client.ttl(f"barometer:chunks:{run}:in:{chunk}")
        assert isinstance(ttl, int)
        assert ttl > VISIBILITY_TIMEOUT

        killed = workers[victim]
        killed.kill()  # SIGKILL to the main process and the pool child at once
        assert killed.process is not None
        assert killed.process.returncode == -9
        assert client.exists(f"barometer:chunks:{run}:out:{chunk}") == 0  # its fits never arrived

        # the visibility window passes: the unacknowledged message is dated that much earlier
        tags = [
            tag for tag, entry in client.hgetall("unacked").items() if json.loads(entry)[0]["headers"]["id"] == task_id
        ]
        assert len(tags) == 1
        score = client.zscore("unacked_index", tags[0])
        assert score is not None
        client.zadd("unacked_index", {tags[0]: score - VISIBILITY_TIMEOUT - 1})
        # the sweep every consumer runs now and then (about every 100 s), run now
        with app.connection_for_write() as conn:
            conn.default_channel.qos.restore_visible(num=100, interval=1)

        delivered: dict[str, Any] = app.AsyncResult(started["chord_id"]).get(timeout=240)
        outcome: dict[str, Any] = app.AsyncResult(run).get(timeout=10)
    finally:
        for process in workers.values():
            process.stop()
        proxy.close()
        client.close()

    assert outcome["ok"], outcome
    assert [c["chunk"] for c in outcome["chunks"]] == list(range(8))
    assert all(c["ok"] for c in outcome["chunks"])
    assert outcome["chunks"][chunk]["worker"].split("@")[0] == survivor
    assert (delivered["sent"], delivered["failed"]) == (1, 0)
    single = service.run_property(build_runtime(single_settings), "big")
    assert single.findings == outcome["findings"] > 10
    assert _findings(chunked_settings) == _findings(single_settings)
