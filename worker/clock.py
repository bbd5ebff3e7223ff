"""The process clock, and the clock of what barometer decides.

Two questions, one default answer (the wall clock in production):

* :func:`now` — what "now" is for beat's schedule and the hourly watch. Everything that
  asks the time through here — beat's entries (:class:`worker.beat.ZonedCrontab`), the
  Celery app's ``now()`` that celery-redbeat picks due entries with, and the hourly task —
  sees one clock. It is the system clock unless :func:`use` installs another, in the
  process that should see it (one ``celery`` process each; tests run beat and a worker as
  threads of the test process). :class:`ManualClock` is the controllable one: time stands
  still until :meth:`ManualClock.set` or :meth:`ManualClock.advance` moves it. Beat still
  wakes on its own real-time loop (``beat_max_loop_interval``) and then judges what is due
  by this clock, so a test moves the clock to 10:10 and beat fires the 10:10 entries at
  once: hours pass in seconds, with no wall-clock sleep standing in for them.
* :func:`clock_for` — the clock the use cases decide by (due deliveries, leases, backoffs,
  pending ages, report dates, a digest's scheduled day), read from ``[clock] source``:
  ``"system"`` (the default) is :func:`now`; ``"file:/path"`` is a :class:`FileClock`, the
  ISO 8601 time written in that file (naive means UTC), read on every call. Several
  *processes* (workers, beat, the CLI) share one clock this way: the fault-injection suite
  advances all of them at once by rewriting the file (:func:`set_file_clock`), while beat's
  own ticking stays on :func:`now`. A missing or unreadable file raises
  :class:`ClockError`: a clock that silently fell back to the wall clock would make a test
  pass by accident.

Celery's own timers (retry countdowns, the interval of ``barometer.flush_outbox``) stay on
real time.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.errors import BarometerError
from worker.settings import Settings

__all__ = [
    "Clock",
    "ClockError",
    "FileClock",
    "ManualClock",
    "clock_for",
    "now",
    "set_file_clock",
    "system_now",
    "use",
]

Clock = Callable[[], datetime]


class ClockError(BarometerError):
    """The configured clock cannot be read."""


def system_now() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)


_lock = threading.Lock()
_current: Callable[[], datetime] = system_now


def now() -> datetime:
    """The current time by the installed clock (aware, UTC)."""
    with _lock:
        clock = _current
    return clock().astimezone(UTC)


def use(clock: Callable[[], datetime] | None) -> None:
    """Install ``clock`` for this process (None: back to the system clock)."""
    global _current  # noqa: PLW0603  # one clock per process, by design
    with _lock:
        _current = clock or system_now


class ManualClock:
    """A clock that moves only when told to. Thread-safe; times are aware."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._at = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at += delta
            return self._at


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
    """The clock ``settings`` ask for: :func:`now` unless ``[clock] source`` names a file."""
    source = settings.clock.source
    if source == "system":
        return now
    return FileClock(Path(source.removeprefix("file:")))


def set_file_clock(path: Path, at: datetime) -> None:
    """Write ``at`` to a file clock atomically (a reader never sees half a time)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(at.astimezone(UTC).isoformat())
    os.replace(tmp, path)
