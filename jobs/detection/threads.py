"""A small pool of threads for work split by rows of series (each row's numbers depend on
that row only, so they are the same on any thread and however the rows are cut).

numpy and scipy's loops leave the GIL, so two threads fit two blocks of series at once on
two cores. ``count`` is the number of cores this process may run on, at most :data:`MOST`;
``BAROMETER_DETECT_THREADS`` sets it (1: everything on the calling thread; a number set
there is used whether or not a core looks free).

Threads help only while a core is idle: on a machine busy with other work, a thread waiting
for a core holds the others up at the GIL (measured: about 10% slower than one thread). So
work goes to the pool only while :func:`spare` sees at least half a core free for it (from
``/proc/stat``'s idle time and this process's own CPU time, looked at every quarter second at
most); otherwise it runs on the calling thread. Either way the numbers are the same.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["MOST", "count", "map", "submit"]

T = TypeVar("T")
#: The most threads used, whatever the cores.
MOST = 4


def _count() -> int:
    given = os.environ.get("BAROMETER_DETECT_THREADS", "").strip()
    if given:
        if not given.isdigit():
            raise ValueError(f"BAROMETER_DETECT_THREADS: expected a whole number of threads, got {given!r}")
        return max(1, int(given))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MOST, cores))


count = _count()
#: ``count`` was set by hand: no looking for a free core
forced = bool(os.environ.get("BAROMETER_DETECT_THREADS", "").strip())
_pools: list[ThreadPoolExecutor] = []
_locks = [threading.Lock()]
_local = threading.local()


def _idle_seconds() -> float | None:
    """Idle CPU time of the whole machine (all cores, idle and iowait), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Spare:
    """Is a core free for another thread of this process? Idle cores plus the cores this
    process used, less the one its calling thread needs, since the last look."""

    #: seconds between looks (and the shortest span measured)
    EVERY = 0.25

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.answer = True
        self.last = (time.monotonic(), _idle_seconds(), time.process_time())

    def __call__(self) -> bool:
        now = time.monotonic()
        since, idle_then, mine_then = self.last
        if now - since < self.EVERY:
            return self.answer
        idle, mine = _idle_seconds(), time.process_time()
        if idle is None or idle_then is None:
            return True
        self.answer = (idle - idle_then + mine - mine_then) / (now - since) - 1.0 >= 0.5
        self.last = (now, idle, mine)
        return self.answer


spare = _Spare()


def _parallel() -> bool:
    return count > 1 and not getattr(_local, "inside", False) and (forced or spare())


def map(func: Callable[..., T], *args: Iterable[object]) -> list[T]:
    """``[func(*a) for a in zip(*args)]``, on the pool's threads when there are several
    items, threads and a free core (a call from one of the pool's own threads runs where
    it is)."""
    items = list(zip(*args, strict=True))
    if len(items) < 2 or not _parallel():
        return [func(*a) for a in items]
    return list(_get().map(lambda a: _inside(func, a), items))


def submit(func: Callable[..., T], *args: object) -> Future[T]:
    """``func(*args)`` started on the pool (run at once, here, with one thread or no core free)."""
    if not _parallel():
        done: Future[T] = Future()
        done.set_result(func(*args))
        return done
    return _get().submit(_inside, func, args)


def _inside(func: Callable[..., T], a: tuple[object, ...]) -> T:
    _local.inside = True
    return func(*a)


def _forget() -> None:
    """In a forked child: the parent's threads are not there, so a fresh pool on first use
    (and the CPU time looked at is the child's own from now on)."""
    _locks[0] = threading.Lock()
    _pools.clear()
    spare.reset()


os.register_at_fork(after_in_child=_forget)


def _get() -> ThreadPoolExecutor:
    with _locks[0]:
        if not _pools:
            _pools.append(ThreadPoolExecutor(max_workers=count, thread_name_prefix="detect"))
        return _pools[0]
