"""``barometer demo``: the main job on the embedded default, end to end.

Two synthetic properties (GA4-like ``shop`` and Search-Console-like ``shop-search``) with
injected changes on the newest final day, a fresh SQLite database, the template summary,
and a digest delivered to SMTP/Slack when configured, otherwise written to the outbox dir.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from jobs.domain import Severity
from worker import bootstrap
from worker.runtime import build as build_runtime
from worker.service import Clock, DailyReport, run_daily, utcnow
from worker.settings import (
    OutboxSettings,
    PropertySettings,
    Settings,
    StorageSettings,
    SubscriptionSettings,
)

__all__ = ["DEMO_DATABASE", "DEMO_USER", "DemoOutcome", "demo_settings", "demo_user", "run_demo"]

DEMO_SUBSCRIPTION = "marketing"
#: Who the demo digest is addressed to when no --email is given (written to the outbox only).
DEMO_RECIPIENT = "marketing@example.com"


def demo_settings(settings: Settings, *, outbox: Path, database_url: str, emails: tuple[str, ...]) -> Settings:
    """``settings`` (for SMTP, Slack, LLM) with the demo's properties, subscription and database.

    Without ``emails`` the digest is addressed to an example recipient and only written to
    ``outbox``, even when SMTP is configured: the demo never mails anyone unasked.
    """
    properties = (
        PropertySettings(name="shop", source="demo", id="ga4", timezone="Europe/Berlin"),
        PropertySettings(name="shop-search", source="demo", id="gsc", timezone="America/Los_Angeles"),
    )
    subscription = SubscriptionSettings(
        name=DEMO_SUBSCRIPTION,
        properties=tuple(p.name for p in properties),
        email=emails or (DEMO_RECIPIENT,),
        timezone="Europe/Berlin",
        min_severity=Severity.MEDIUM,
    )
    return settings.model_copy(
        update={
            "storage": StorageSettings(database_url=database_url),
            "outbox": OutboxSettings(dir=str(outbox)),
            "smtp": settings.smtp if emails else settings.smtp.model_copy(update={"host": ""}),
            "accounts": (),
            "properties": properties,
            "subscriptions": (subscription,),
        }
    )


@dataclass(frozen=True)
class DemoOutcome:
    report: DailyReport
    files: tuple[Path, ...]
    seconds: float

    def describe(self) -> str:
        lines = []
        for result in self.report.properties:
            lines.append(f"{result.property}: {result.findings} finding(s) on {result.data_date}")
        for name, reason in self.report.failures.items():
            lines.append(f"{name}: FAILED: {reason}")
        for d in self.report.deliveries:
            lines.append(f"digest '{d.subscription}' for {d.data_date}: {d.sent} delivered, {d.failed} failed")
        if self.files:
            lines.append("written:")
            lines += [f"  {path}" for path in self.files]
            lines.append("open the .eml file in a mail client to read the digest")
        lines.append(f"done in {self.seconds:.1f}s")
        return "\n".join(lines)


#: The console user the demo creates (a fresh password on every demo run, printed once).
DEMO_USER = "demo"
DEMO_DATABASE = "sqlite:///barometer-demo.db"


def demo_user(engine: sa.Engine, *, now: datetime) -> str:
    """Create the demo's console user (an analyst) in the demo database ``engine``; return its new password."""
    from worker.web.users import Role, add_user, list_users, remove_user

    if any(user.name == DEMO_USER for user in list_users(engine)):  # a server database is not reset
        remove_user(engine, DEMO_USER)
    password = secrets.token_urlsafe(12)
    add_user(engine, DEMO_USER, role=Role.ANALYST, password=password, now=now)
    return password


def _reset_sqlite(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    bootstrap.forget_engine(database_url)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(url.database + suffix).unlink(missing_ok=True)


def run_demo(
    settings: Settings,
    *,
    outbox: Path,
    database_url: str,
    emails: tuple[str, ...] = (),
    now: Clock = utcnow,
) -> DemoOutcome:
    """Reset the demo database, run the daily pipeline, and report what was delivered.

    ``now`` is the wall clock the run sees: the demo's data are anchored on the newest day
    each source has finished counting by then, and read the same on every date.
    """
    started = time.monotonic()
    _reset_sqlite(database_url)
    demo = demo_settings(settings, outbox=outbox, database_url=database_url, emails=emails)
    before = {p: p.stat().st_mtime_ns for p in outbox.glob("*")} if outbox.is_dir() else {}
    report = run_daily(build_runtime(demo, clock=now), now=now)
    after = sorted(outbox.glob("*")) if outbox.is_dir() else []
    files = tuple(p for p in after if before.get(p) != p.stat().st_mtime_ns)
    return DemoOutcome(report=report, files=files, seconds=time.monotonic() - started)
