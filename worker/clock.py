"""The process clock: what "now" is for beat's schedule and for the hourly watch.

Everything that asks the time through here — beat's entries (:class:`worker.beat.ZonedCrontab`),
the Celery app's ``now()`` that celery-redbeat picks due entries with, and the hourly
task — sees one clock. It is the system clock unless :func:`use` installs another, in
the process that should see it (one ``celery`` process each; tests run beat and a
worker as threads of the test process).

:class:`ManualClock` is the controllable one: time stands still until :meth:`ManualClock.set`
or :meth:`ManualClock.advance` moves it. Beat still wakes on its own real-time loop
(``beat_max_loop_interval``) and then judges what is due by this clock, so a test moves
the clock to 10:10 and beat fires the 10:10 entries at once: hours pass in seconds, with
no wall-clock sleep standing in for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock", "now", "system_now", "use"]


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
