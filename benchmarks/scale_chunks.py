"""``scale_chunks``: one big property's daily run on one Celery worker, then split over two.

The ``scale_detect`` file (N series x 91 days, ``BAROMETER_BENCH_SCALE``, default ``100k``)
is imported into SQLite once (kept beside the file); then ``barometer.run_property`` runs on real ``celery worker``
processes (``-c 1`` each) on a leased Redis database: first one worker with
``chunk_series = 0`` (not split), then two workers with ``chunk_series`` = half the series
(two chunks), alternating, twice. Each figure is the wall time from sending the task to its
result, beside the load average; the two runs' findings must be equal.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.scale import _SIZES, _barometer, _env, _python, data_dir, leased_redis, load, metrics_file, run, sizes

__all__ = ["BENCHMARKS"]

_ROUNDS = 2


def _timed_run(env: dict[str, str], tmp: Path, broker: str, workers: int) -> tuple[float, dict[str, Any]]:
    from celery import Celery

    tag = uuid.uuid4().hex[:8]
    names = [f"w{i}-{tag}@bench" for i in range(workers)]
    children = []
    for name in names:
        args = [_python(), "-m", "celery", "-A", "worker", "worker", "-c", "1", "-P", "prefork"]
        args += ["-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
        log = (tmp / f"{name}.log").open("ab")
        children.append(subprocess.Popen(args, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT))
    client = Celery(broker=broker, backend=broker)  # the default queue of a database of its own
    try:
        deadline = time.perf_counter() + 120
        while len(client.control.ping(destination=names, timeout=0.5)) < workers:
            if time.perf_counter() > deadline:
                raise RuntimeError("celery workers not ready after 120 s")
        started = time.perf_counter()
        result = client.send_task("barometer.run_property", args=["bench", None, None])
        outcome: dict[str, Any] = result.get(timeout=3600)
        return time.perf_counter() - started, outcome
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=60)


def scale_chunks(tmp: Path) -> str:
    lines = []
    for size in sizes():
        n = _SIZES[size]
        path = metrics_file(n, data_dir())
        db = data_dir() / f"chunks-{size}.db"  # kept with the file in BAROMETER_BENCH_DIR
        env = _env(tmp, f"sqlite:///{db}")
        imported = "reused"
        if not db.with_suffix(".done").exists():
            db.unlink(missing_ok=True)
            subprocess.run([_barometer(), "db", "upgrade"], env=env, cwd=tmp, check=True, capture_output=True)
            imported = str(run([_barometer(), "import", str(path), "--property", "bench"], env=env, cwd=tmp))
            db.with_suffix(".done").touch()
        broker, release = leased_redis(seconds=3600)
        rounds = []
        try:
            base = env | {"BAROMETER_BROKER__URL": broker}
            for _ in range(_ROUNDS):  # alternating, since the machine's load drifts
                one, single = _timed_run(base | {"BAROMETER_DETECTION__CHUNK_SERIES": "0"}, tmp, broker, 1)
                loaded = load()
                two, split = _timed_run(base | {"BAROMETER_DETECTION__CHUNK_SERIES": str(n // 2)}, tmp, broker, 2)
                if not (single["ok"] and split["ok"]) or single["findings"] != split["findings"]:
                    raise RuntimeError(f"runs differ: {single} vs {split}")
                fitted = ", ".join(f"{c['seconds']:.1f}" for c in split.get("chunks", []))
                rounds.append(
                    f"1 worker {one:.1f}s ({loaded}) / 2 workers {two:.1f}s = split {split['split_seconds']:.1f}s"
                    f" + chunks {fitted}s + join {split['join_seconds']:.1f}s ({load()})"
                )
        finally:
            release()
        lines.append(f"{size}: import {imported}; {split['findings']} findings each run; " + "; ".join(rounds))
    return "; ".join(lines)


BENCHMARKS: tuple[Callable[[Path], str], ...] = (scale_chunks,)
