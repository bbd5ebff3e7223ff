"""A delivering process killed mid-send (SIGKILL, a real subprocess, a real SMTP server
and SQLite file): what was marked sent is never sent again, and nothing that was not
marked is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from alerts.outbox import LEASE, deliveries
from jobs.domain import DeliveryStatus
from jobs.storage import repo
from tests.fakes import sample_digest
from tests.fakes.smtp import Received, free_port
from worker import db

START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
TEAM, BOSS, CFO = "team@shop.example", "boss@shop.example", "cfo@shop.example"

SENDER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from alerts.channels import SmtpChannel
    from alerts.outbox import Target, deliver
    from jobs.storage import repo
    from worker import db

    url, digest_id, port, at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
    engine = db.create_engine(url)
    digest = repo.load_digest(engine, digest_id)
    channel = SmtpChannel(host="127.0.0.1", port=port, sender="barometer@shop.example", starttls=False, timeout=20)
    targets = [Target("email", r) for r in sys.argv[5:]]
    deliver(engine, digest=digest, targets=targets, channels={"email": channel}, now=lambda: at)
    """
)


@dataclass
class KillingHandler:
    """Accepts mail; for ``victim_rcpt`` it SIGKILLs the sending process once, either before
    accepting the message (``after=False``) or after keeping it (``after=True``)."""

    victim_rcpt: str
    after: bool
    pid: int | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), envelope.original_content or b"")
        if self.victim_rcpt in envelope.rcpt_tos and self.pid is not None:
            if self.after:
                self.received.append(message)  # it arrived; the sender dies before it hears "250"
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
            return "451 4.3.0 sender went away"
        self.received.append(message)
        return "250 OK"


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine = db.create_engine(url)
    db.upgrade(engine)
    digest = repo.save_digest(engine, sample_digest(findings=(), digest_id=None))
    assert digest.id is not None
    yield url, digest.id
    engine.dispose()


def _send(url: str, digest_id: int, port: int, at: datetime) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    args = [sys.executable, "-c", SENDER, url, str(digest_id), str(port), at.isoformat(), TEAM, BOSS, CFO]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(url: str, digest_id: int, at: datetime, *, port: int) -> None:
    """A sender that is left alone; it must finish cleanly."""
    process = _send(url, digest_id, port, at)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()


def _status(url: str, digest_id: int) -> dict[str, tuple[DeliveryStatus, int]]:
    engine = sa.create_engine(url)
    try:
        return {d.recipient: (d.status, d.attempts) for d in deliveries(engine, digest_id=digest_id)}
    finally:
        engine.dispose()


@pytest.mark.parametrize("after", [False, True], ids=["killed-before-the-server-accepted", "killed-after"])
def test_a_sender_killed_mid_send_loses_nothing_and_resends_nothing_marked(
    stored: tuple[str, int], after: bool
) -> None:
    url, digest_id = stored
    port = free_port()
    handler = KillingHandler(BOSS, after=after)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        process = _send(url, digest_id, port, START)
        handler.pid = process.pid
        process.communicate(timeout=120)
        assert process.returncode == -signal.SIGKILL  # killed in the middle of sending to boss@

        crashed = _status(url, digest_id)
        assert crashed[TEAM] == (DeliveryStatus.SENT, 1)  # marked before the crash
        assert crashed[BOSS][0] is DeliveryStatus.PENDING  # claimed, never marked
        assert crashed[CFO] == (DeliveryStatus.PENDING, 0)  # never reached

        # A restarted worker while the dead one's lease still holds: only cfo@ goes out.
        _run(url, digest_id, START + timedelta(minutes=1), port=port)
        meanwhile = _status(url, digest_id)
        assert (meanwhile[BOSS][0], meanwhile[CFO][0]) == (DeliveryStatus.PENDING, DeliveryStatus.SENT)
        # After the lease: boss@ is sent again, team@ (marked) never; later runs send nothing.
        _run(url, digest_id, START + LEASE + timedelta(minutes=1), port=port)
        _run(url, digest_id, START + timedelta(days=1), port=port)
    finally:
        controller.stop()

    assert {r: s for r, (s, _) in _status(url, digest_id).items()} == dict.fromkeys(
        (TEAM, BOSS, CFO), DeliveryStatus.SENT
    )
    arrived = [m.rcpt_tos[0] for m in handler.received]
    assert sorted(arrived) == sorted([TEAM, CFO, BOSS, *([BOSS] if after else [])])
    assert arrived.count(TEAM) == 1
    if after:  # the one window no outbox can close; the copy carries the same Message-ID, so clients merge it
        first, second = (m.message["Message-ID"] for m in handler.received if m.rcpt_tos[0] == BOSS)
        assert first == second
