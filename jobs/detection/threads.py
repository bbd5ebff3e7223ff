"""A small pool of threads for work split by rows of series (each row's numbers depend on
that row only, so they are the same on any thread and however the rows are cut).

numpy and scipy's loops leave the GIL, so two threads fit two blocks of series at once on
two cores. ``count`` is the number of cores this process may run on, at most :data:`MOST`;
``BAROMETER_DETECT_THREADS`` sets it (1: everything on the calling thread).
"""

from __future__ import annotations

import os
import threading
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
        return max(1, int(given))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MOST, cores))


count = _count()
_pools: list[ThreadPoolExecutor] = []
_locks = [threading.Lock()]
_local = threading.local()


def map(func: Callable[..., T], *args: Iterable[object]) -> list[T]:
    """``[func(*a) for a in zip(*args)]``, on the pool's threads when there are several
    items and threads (a call from one of the pool's own threads runs where it is)."""
    items = list(zip(*args, strict=True))
    if count == 1 or len(items) < 2 or getattr(_local, "inside", False):
        return [func(*a) for a in items]
    return list(_get().map(lambda a: _inside(func, a), items))


def submit(func: Callable[..., T], *args: object) -> Future[T]:
    """``func(*args)`` started on the pool (run at once, here, with one thread)."""
    if count == 1 or getattr(_local, "inside", False):
        done: Future[T] = Future()
        done.set_result(func(*args))
        return done
    return _get().submit(_inside, func, args)


def _inside(func: Callable[..., T], a: tuple[object, ...]) -> T:
    _local.inside = True
    return func(*a)


def _forget() -> None:
    """In a forked child: the parent's threads are not there, so a fresh pool on first use."""
    _locks[0] = threading.Lock()
    _pools.clear()


os.register_at_fork(after_in_child=_forget)


def _get() -> ThreadPoolExecutor:
    with _locks[0]:
        if not _pools:
            _pools.append(ThreadPoolExecutor(max_workers=count, thread_name_prefix="detect"))
        return _pools[0]
