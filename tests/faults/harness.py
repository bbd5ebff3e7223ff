"""The fault-injection harness: real ``celery worker`` and ``celery beat`` processes,
private Redis and PostgreSQL servers that a test may restart, counting fakes for every
channel, and the shared file clock.

How time moves: every process reads ``[clock] source = "file:..."`` (:mod:`worker.clock`);
:meth:`Stack.advance` rewrites that file, so backoffs and leases run out for all of them
at once, without sleeping. What the test waits for are outcomes (:func:`wait_until`
polls the database or the fakes, bounded).

Counting: each fake records only what it *accepted*. A scenario's :class:`Tally` is, per
target, delivered (messages accepted), lost (0 accepted where 1 was due) and duplicated
(accepted beyond the first).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.fakes.http import Recorded, RecordingServer, Reply
from tests.fakes.slack import FakeSlackApi
from tests.fakes.smtp import SmtpServer, free_port
from tests.fakes.webhook import FakeWebhook
from worker.clock import set_file_clock

__all__ = [
    "CELERY",
    "START",
    "Endpoints",
    "PrivatePostgres",
    "PrivateRedis",
    "Tally",
    "WorkerProcess",
    "wait_until",
]

CELERY = str(Path(sys.executable).with_name("celery"))
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
TEAM = "team@shop.example"
CHANNEL = "C0MARKETING"
TOKEN = "xoxb-fault-token"
TARGETS = ("email", "slack", "slack_api", "webhook")


def wait_until(probe: Callable[[], bool], *, seconds: float = 60, what: str = "condition") -> None:
    """Poll ``probe`` every 0.1 s for at most ``seconds`` (waiting for an outcome, not for time)."""
    event = threading.Event()
    for _ in range(int(seconds * 10)):
        if probe():
            return
        event.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class SlackHook(RecordingServer):
    """A Slack incoming webhook that answers 500 while ``down``; ``accepted`` counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.url = f"{self.base}/services/T0/B0/fault"
        self.down = False
        self.accepted: list[dict[str, Any]] = []

    def answer(self, request: Recorded) -> Reply:
        if self.down:
            return 500, "internal_error", {}
        self.accepted.append(request.json())
        return 200, "ok", {}


class FlakySlackApi(FakeSlackApi):
    """The Slack Web API fake, answering 500 while ``down``; ``on_post`` runs after a post is kept."""

    down = False
    on_post: Callable[[], None] | None = None

    def answer(self, request: Recorded) -> Reply:
        if self.down:
            return 500, {"ok": False, "error": "internal_error"}, {}
        reply = super().answer(request)
        if request.path.endswith("chat.postMessage") and self.on_post is not None:
            hook, self.on_post = self.on_post, None
            hook()
        return reply


class FlakyWebhook(FakeWebhook):
    down = False

    def answer(self, request: Recorded) -> Reply:
        if self.down:
            return 503, "busy", {}
        return super().answer(request)


@dataclass
class Tally:
    """What arrived per target, against one expected message each."""

    delivered: dict[str, int]

    @property
    def lost(self) -> dict[str, int]:
        return {t: int(n == 0) for t, n in self.delivered.items()}

    @property
    def duplicated(self) -> dict[str, int]:
        return {t: max(0, n - 1) for t, n in self.delivered.items()}

    def record(self, scenario: str) -> None:
        """Append this tally to ``$BAROMETER_FAULT_REPORT`` (a JSON-lines file) when set."""
        path = os.environ.get("BAROMETER_TEST_FAULT_REPORT")
        if path:
            line = {"scenario": scenario, "delivered": self.delivered, "lost": self.lost, "dup": self.duplicated}
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")


class Endpoints:
    """SMTP (down until :meth:`smtp_up`), a Slack webhook, the Slack Web API and a webhook."""

    def __init__(self) -> None:
        self.smtp_port = free_port()
        self.smtp: SmtpServer | None = None
        self.hook = SlackHook()
        self.api = FlakySlackApi(token=TOKEN, channels=(CHANNEL,))
        self.webhook = FlakyWebhook()
        self._smtp_received: list[Any] = []

    def __enter__(self) -> Endpoints:
        self.hook.__enter__()
        self.api.__enter__()
        self.webhook.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp_down()
        self.webhook.__exit__(None, None, None)
        self.api.__exit__(None, None, None)
        self.hook.__exit__(None, None, None)

    def env(self) -> dict[str, str]:
        return {"FAULT_SLACK_HOOK": self.hook.url, "FAULT_SLACK_TOKEN": TOKEN, "FAULT_WEBHOOK_URL": self.webhook.url}

    def smtp_up(self) -> None:
        if self.smtp is None:
            self.smtp = SmtpServer(port=self.smtp_port).__enter__()

    def smtp_down(self) -> None:
        if self.smtp is not None:
            self._smtp_received += self.smtp.received
            self.smtp.__exit__(None, None, None)
            self.smtp = None

    def http(self, *, up: bool) -> None:
        self.hook.down = self.api.down = self.webhook.down = not up

    @property
    def emails(self) -> list[Any]:
        return self._smtp_received + (self.smtp.received if self.smtp is not None else [])

    def tally(self) -> Tally:
        return Tally(
            {
                "email": len(self.emails),
                "slack": len(self.hook.accepted),
                "slack_api": len(self.api.posts),
                "webhook": len(self.webhook.accepted),
            }
        )


CONFIG = """
[storage]
database_url = "{database_url}"
[broker]
url = "{broker_url}"
beat_lock_timeout = 10
[clock]
source = "file:{clock}"
[delivery]
retry_seconds = 1
flush_every_seconds = 1
max_attempts = 10
[logging]
level = "INFO"
[outbox]
dir = "{outbox}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
timeout_seconds = 5
sender = "barometer@shop.example"
[slack]
api_url = "{api_url}"
timeout_seconds = 5
[webhook]
timeout_seconds = 5
[[properties]]
name = "shop"
source = "csv"
[[properties]]
name = "search"
source = "csv"
[[subscriptions]]
name = "marketing"
properties = ["shop", "search"]
email = ["{team}"]
slack_webhook_env = "FAULT_SLACK_HOOK"
slack_bot_token_env = "FAULT_SLACK_TOKEN"
slack_channel = "{channel}"
webhook_url_env = "FAULT_WEBHOOK_URL"
digest_at = "08:00"
"""


def write_config(directory: Path, *, database_url: str, broker_url: str, endpoints: Endpoints) -> Path:
    clock = directory / "clock.txt"
    set_file_clock(clock, START)
    path = directory / "barometer.toml"
    path.write_text(
        CONFIG.format(
            database_url=database_url,
            broker_url=broker_url,
            clock=clock,
            outbox=directory / "outbox",
            smtp_port=endpoints.smtp_port,
            api_url=endpoints.api.url,
            team=TEAM,
            channel=CHANNEL,
        )
    )
    return path


def metrics_csv(path: Path, last: date, days: int = 35) -> Path:
    rows = ["date,series,metric,value"]
    rows += [f"{last - timedelta(days=n)},total,sessions,{1000 + (n % 7) * 10}" for n in range(days)]
    path.write_text("\n".join(rows) + "\n")
    return path


@dataclass
class WorkerProcess:
    """A ``celery -A worker worker`` (or ``beat``) subprocess in its own session, so that
    :meth:`kill` can SIGKILL the whole process (main and pool children) at once."""

    args: list[str]
    env: dict[str, str]
    log: Path
    #: What the process logs once it is up.
    ready_text: str = " ready."
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    #: Restarted when it exits on its own, as compose's ``restart: unless-stopped`` does.
    supervised: bool = field(default=False, init=False)
    restarts: int = field(default=0, init=False)
    _watcher: threading.Thread | None = field(default=None, init=False)

    def start(self, *, wait: bool = True) -> WorkerProcess:
        """Launch the process; with ``wait``, return once it logged :attr:`ready_text`."""
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [CELERY, "-A", "worker", *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        wait_until(
            lambda: self.ready_text in self.log.read_text(errors="replace") or not self.alive,
            seconds=90,
            what=f"{self.args[0]} start",
        )
        assert self.alive, self.log.read_text(errors="replace")[-3000:]

    def supervise(self) -> WorkerProcess:
        """Restart the process whenever it exits by itself (not through :meth:`stop`/:meth:`kill`)."""
        self.supervised = True

        def watch() -> None:
            while self.supervised:
                process = self.process
                if process is not None and process.poll() is not None and self.supervised:
                    self.restarts += 1
                    self.start(wait=False)
                threading.Event().wait(0.2)

        self._watcher = threading.Thread(target=watch, daemon=True)
        self._watcher.start()
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and every pool child."""
        self.supervised = False
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        self.supervised = False
        if self._watcher is not None:
            self._watcher.join(5)
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


def process_env(config: Path, endpoints: Endpoints) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BAROMETER_", "SENTRY_"))}
    return base | endpoints.env() | {"BAROMETER_CONFIG": str(config)}


def worker(config: Path, endpoints: Endpoints, log: Path, *, name: str = "w1", pool: str = "prefork") -> WorkerProcess:
    args = ["worker", "-n", f"{name}@%h", "-P", pool, "-c", "2", "--without-gossip", "--without-mingle", "-l", "INFO"]
    return WorkerProcess(args, process_env(config, endpoints), log)


def beat(config: Path, endpoints: Endpoints, log: Path, directory: Path) -> WorkerProcess:
    args = ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(directory / "beat-schedule")]
    return WorkerProcess(args, process_env(config, endpoints), log, ready_text="beat: Starting")


def launch(*processes: WorkerProcess) -> tuple[WorkerProcess, ...]:
    """Start ``processes`` side by side and return once every one is up."""
    for process in processes:
        process.start(wait=False)
    for process in processes:
        process.wait_ready()
    return processes


def deliveries(database_url: str) -> list[tuple[str, str, int]]:
    """(channel, status, attempts) of every delivery row, oldest first ([] before the schema exists)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT channel, status, attempts FROM delivery ORDER BY id")
            return [(str(c), str(s), int(a)) for c, s, a in rows]
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def count(database_url: str, sql: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar_one())
    finally:
        engine.dispose()


class PrivateRedis:
    """A redis-server of the test's own on a free port, with an append-only file so that a
    restart keeps its data (as a production broker would be configured)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, seconds=20, what="private redis")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis fsyncs the append-only file and exits
            self.process.wait(20)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb, pg_ctl) on a free port, run as the
    ``postgres`` user when the test runs as root; trust auth on 127.0.0.1. Its directory is
    a fresh one under the system temp dir (pytest's are private to the test's user), removed
    by :meth:`remove`."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.directory = Path(tempfile.mkdtemp(prefix="barometer-pg-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "pg.log"), "-w", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def stopping(*processes: WorkerProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()
