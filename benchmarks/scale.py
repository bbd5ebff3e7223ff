"""Agency scale (issue 16): each figure beside a polars read of the same file, same run.

Every measured command runs as a child process; its wall time and its own peak RSS
(``os.wait4``'s rusage of that child alone) are printed, with the load average, since the
machine is shared. ``BAROMETER_BENCH_SCALE`` picks the sizes (default ``100k``; e.g.
``100k,500k``); files are generated once into ``BAROMETER_BENCH_DIR`` (default a temp dir)
and reused when present.

- ``scale_detect``: ``barometer detect`` on the newest day of N series x 91 days.
- ``scale_walk``: ``barometer detect --start`` over the last 28 days of 100k series.
- ``scale_import``: ``barometer import`` of the 100k file into SQLite and into
  PostgreSQL (a database of its own on ``BAROMETER_BENCH_POSTGRES_URL``'s server, default
  the test server, created and dropped here), points/s; then the daily detection step
  from each (load the window, detect, store the findings) in a child process.
- ``cold_start``: ``barometer --help``, ``import worker.tasks``, a Celery worker ready
  (answering a ping on its own queue and a leased Redis db), each best of 3, with ``-X importtime``'s top modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BENCHMARKS"]

_SIZES = {"100k": 100_000, "500k": 500_000, "1m": 1_000_000}
_DAYS = 91


@dataclass(frozen=True)
class Ran:
    seconds: float
    peak_mb: float
    out: str

    def __str__(self) -> str:
        return f"{self.seconds:.2f}s, {self.peak_mb:,.0f} MB"


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """Run a child to its end: wall time and that child's own peak RSS (``os.wait4``)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({child.returncode}): {text[-1500:]}")
    return Ran(seconds, usage.ru_maxrss / 1024, text)


def load() -> str:
    from jobs.detection import threads

    one, five, _ = os.getloadavg()
    return f"loadavg {one:.1f}/{five:.1f}, detection threads {threads.count}"


def _python() -> str:
    return sys.executable


def _barometer() -> str:
    return str(Path(sys.executable).with_name("barometer"))


def polars_read(path: Path) -> Ran:
    """The yardstick: polars alone reading the whole file, in a fresh process."""
    code = "import sys, polars as pl; pl.read_csv(sys.argv[1])"
    return run([_python(), "-c", code, str(path)])


def data_dir() -> Path:
    where = os.environ.get("BAROMETER_BENCH_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        return Path(where)
    return Path(tempfile.mkdtemp(prefix="barometer-scale-"))


def metrics_file(n_series: int, where: Path) -> Path:
    """N series x 91 days of seasonal counts (``benchmarks.detection``'s generator), written
    by a child process: this one stays small, since a child's peak RSS as ``wait4`` reports it
    starts from its parent's size at the fork."""
    path = where / f"scale-{n_series}.csv"
    if not path.exists():
        part = path.with_suffix(".part")
        code = (
            "import sys; from pathlib import Path; from benchmarks.detection import _values, _write_csv; "
            f"_write_csv(Path(sys.argv[1]), _values({int(n_series)}, {_DAYS}, seed=1))"
        )
        subprocess.run([_python(), "-c", code, str(part)], check=True)
        part.rename(path)
    return path


def sizes() -> list[str]:
    return [s.strip() for s in os.environ.get("BAROMETER_BENCH_SCALE", "100k").split(",") if s.strip()]


def _env(tmp: Path, url: str = "") -> dict[str, str]:
    # the benchmarks' own settings stay here; the detection's threads (a process knob) go along
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_") or k == "BAROMETER_DETECT_THREADS"}
    config = tmp / "barometer.toml"
    lines = ['[[properties]]\nname = "bench"\nsource = "csv"\n']
    if url:
        lines.insert(0, f'[storage]\ndatabase_url = "{url}"\n')
    config.write_text("".join(lines), encoding="utf-8")
    env["BAROMETER_CONFIG"] = str(config)
    return env


def scale_detect(tmp: Path) -> str:
    where = data_dir()
    lines = []
    for size in sizes():
        path = metrics_file(_SIZES[size], where)
        yard = polars_read(path)
        got = run([_barometer(), "detect", str(path), "-o", str(tmp / "out.jsonl")], env=_env(tmp), cwd=tmp)
        lines.append(
            f"{size} x {_DAYS} days ({path.stat().st_size / 1e6:,.0f} MB): detect {got} vs polars read {yard} "
            f"= {got.seconds / yard.seconds:.2f}x ({load()})"
        )
    return "; ".join(lines) + " (goal <= 2x at 100k; 500k <= 5.5x the 100k time, <= 2.5 GB)"


def scale_walk(tmp: Path) -> str:
    from datetime import date, timedelta

    path = metrics_file(100_000, data_dir())
    end = date(2026, 6, 30)
    start = (end - timedelta(days=27)).isoformat()
    yard = polars_read(path)
    got = run([_barometer(), "detect", str(path), "--start", start, "-o", str(tmp / "w.jsonl")], env=_env(tmp), cwd=tmp)
    return f"walk-forward 28 days x 100k series: {got} vs polars read {yard} ({load()}) (goal <= 30 s)"


_PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres(tmp: Path) -> tuple[str, Callable[[], None]] | None:
    """A database of its own on the test server (created here, dropped after), or None."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("BAROMETER_BENCH_POSTGRES_URL", _PG_DEFAULT)
    name = f"barometer_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return base.rsplit("/", 1)[0] + f"/{name}", drop


_STORED_CHILD = """
import sys, time
from datetime import date
from jobs import pipeline
from jobs.domain import PropertySpec
from worker import bootstrap
from worker.settings import load_settings

settings = load_settings()
day = date.fromisoformat(sys.argv[1])
started = time.perf_counter()
found = pipeline.detect_day(bootstrap.engine(settings), PropertySpec("bench", "csv"), settings.detection.params(),
                            day=day, last_final=day)
print(f"{time.perf_counter() - started:.2f} {len(found)}")
"""


def _import_and_run(tmp: Path, path: Path, url: str, label: str, yard: Ran, from_file: Ran) -> list[str]:
    env = _env(tmp, url)
    subprocess.run([_barometer(), "db", "upgrade"], env=env, cwd=tmp, check=True, capture_output=True)
    got = run([_barometer(), "import", str(path), "--property", "bench"], env=env, cwd=tmp)
    points = int(got.out.split("imported ")[1].split()[0])
    detect = run([_python(), "-c", _STORED_CHILD, "2026-06-30"], env=env, cwd=tmp)
    return [
        f"import {label}: {got} = {points / got.seconds:,.0f} points/s",
        f"daily run from {label}: {detect} (detect step {detect.out.split()[0]}s; "
        f"{detect.seconds / from_file.seconds:.2f}x detect from the file, "
        f"{detect.seconds / yard.seconds:.2f}x the polars read)",
    ]


def scale_import(tmp: Path) -> str:
    """Import the 100k file into SQLite and PostgreSQL, then the daily detection from each."""
    path = metrics_file(100_000, data_dir())
    yard = polars_read(path)
    from_file = run([_barometer(), "detect", str(path), "-o", str(tmp / "out.jsonl")], env=_env(tmp), cwd=tmp)
    lines = [f"polars read {yard}", f"detect from the file {from_file}"]
    lines += _import_and_run(tmp, path, f"sqlite:///{tmp / 'bench.db'}", "SQLite", yard, from_file)
    pg = _postgres(tmp)
    if pg is None:
        lines.append("PostgreSQL: not reachable, skipped")
    else:
        url, drop = pg
        try:
            lines += _import_and_run(tmp, path, url, "PostgreSQL", yard, from_file)
        finally:
            drop()
    return "; ".join(lines) + f" ({load()}) (goals: SQLite >= 300k/s, PostgreSQL >= 500k/s, peak <= 1 GB)"


def _best(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, runs: int = 3) -> Ran:
    return min((run(args, env=env, cwd=cwd) for _ in range(runs)), key=lambda r: r.seconds)


def _heaviest(module: str, *, top: int = 4) -> str:
    """The slowest imports (cumulative, direct children of ``module``) by ``-X importtime``."""
    done = subprocess.run(
        [_python(), "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        if depth == 1:
            rows.append((int(parts[1]), name.strip()))
    total = next((int(line.split("|")[1]) for line in done.stderr.splitlines() if line.endswith(f"| {module}")), 0)
    heavy = ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in sorted(rows, reverse=True)[:top])
    return f"{module} {total / 1000:.0f} ms by -X importtime ({heavy})"


def leased_redis(*, seconds: int) -> tuple[str, Callable[[], None]]:
    """A Redis database number of its own for ``seconds`` at most (leased like the tests',
    tests/conftest.py), emptied before and after; its URL and the call that gives it back."""
    import uuid

    import redis

    server = os.environ.get("BAROMETER_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    control = redis.Redis.from_url(f"{server}/0")
    token = uuid.uuid4().hex
    db = next((n for n in range(15, 0, -1) if control.set(f"barometer-test:db:{n}", token, nx=True, ex=seconds)), None)
    if db is None:
        raise RuntimeError("no free Redis database number for the benchmark's workers")
    client = redis.Redis.from_url(f"{server}/{db}")
    client.flushdb()

    def release() -> None:
        client.flushdb()
        client.close()
        if control.get(f"barometer-test:db:{db}") == token.encode():
            control.delete(f"barometer-test:db:{db}")
        control.close()

    return f"{server}/{db}", release


def _worker_ready(tmp: Path) -> Ran:
    """A real ``celery worker`` on its own queue of a private Redis db, until it answers a ping."""
    import uuid

    base, release = leased_redis(seconds=300)
    env = _env(tmp) | {"BAROMETER_BROKER__URL": base}
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    args = [_python(), "-m", "celery", "-A", "worker", "worker", "-Q", queue, "-c", "1", "-P", "solo", "-n"]
    args += [f"{queue}@bench", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    child = subprocess.Popen(args, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from celery import Celery

        probe = Celery(broker=base, backend=None)
        while time.perf_counter() - started < 60:
            if probe.control.ping(destination=[f"{queue}@bench"], timeout=0.1):
                return Ran(time.perf_counter() - started, 0.0, "")
            if child.poll() is not None:
                raise RuntimeError("celery worker exited before it was ready")
        raise RuntimeError("celery worker not ready after 60 s")
    finally:
        child.terminate()
        child.wait(timeout=30)
        release()


def cold_start(tmp: Path) -> str:
    """Process start-up of the entry points scheduled work launches, best of 3 each."""
    help_ = _best([_barometer(), "--help"])
    tasks = _best([_python(), "-c", "import worker.tasks"])
    ready = min((_worker_ready(tmp) for _ in range(3)), key=lambda r: r.seconds)
    return (
        f"barometer --help {help_.seconds:.2f}s (goal <= 0.3), import worker.tasks {tasks.seconds:.2f}s (goal <= 0.8), "
        f"celery worker answering a ping {ready.seconds:.2f}s (goal <= 2) ({load()}); "
        f"{_heaviest('worker.cli')}; {_heaviest('worker.tasks')}"
    )


BENCHMARKS: tuple[Callable[[Path], str], ...] = (scale_detect, scale_walk, scale_import, cold_start)
