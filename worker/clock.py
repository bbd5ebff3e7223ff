"""The process clock: the wall clock in production, a controllable one in tests.

Every use case takes a ``now`` callable (:data:`worker.service.Clock`); the entry points
(Celery tasks, the CLI) get theirs from :func:`clock_for`, which reads ``[clock] source``:

* ``"system"`` (the default): :func:`utcnow`, the wall clock;
* ``"file:/path"``: the ISO 8601 time written in that file (naive means UTC), read on
  every call. Several processes (workers, beat, the CLI) share one clock this way: a
  fault-injection test advances all of them at once by rewriting the file
  (:func:`set_file_clock`). A missing or unreadable file raises :class:`ClockError`:
  a clock that silently fell back to the wall clock would make a test pass by accident.

Only *what barometer decides* follows this clock (due deliveries, leases, report dates,
pending ages). Celery's own timers (retry countdowns, beat ticks) stay on the wall clock.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jobs.errors import BarometerError
from worker.settings import Settings

__all__ = ["Clock", "ClockError", "FileClock", "clock_for", "set_file_clock", "utcnow"]

Clock = Callable[[], datetime]


class ClockError(BarometerError):
    """The configured clock cannot be read."""


def utcnow() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


class FileClock:
    """A clock that reads the time written in ``path`` each time it is called."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"FileClock({str(self.path)!r})"

    def __call__(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            at = datetime.fromisoformat(text)
        except (OSError, ValueError) as exc:
            raise ClockError(f"clock.source: cannot read a time from {self.path}: {exc}") from None
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def clock_for(settings: Settings) -> Clock:
    """The clock ``settings`` ask for (the wall clock unless ``[clock] source`` says otherwise)."""
    source = settings.clock.source
    if source == "system":
        return utcnow
    return FileClock(Path(source.removeprefix("file:")))


def set_file_clock(path: Path, at: datetime) -> None:
    """Write ``at`` to a file clock atomically (a reader never sees half a time)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(at.astimezone(UTC).isoformat())
    os.replace(tmp, path)
