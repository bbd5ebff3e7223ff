"""Request pacing shared by the Google sources: retry policy, rate limiter, a short memo.

All three take their clock and sleep as arguments, so tests drive them without waiting
and without patching ``time``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["RateLimiter", "RetryPolicy", "TtlMemo"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a source retries a transient failure (429, 5xx, network).

    ``attempts`` is the number of retries after the first try; delays grow from
    ``initial`` by ``multiplier`` up to ``maximum`` seconds (with jitter where the
    client library adds it). ``timeout`` is the per-request timeout in seconds.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 32.0
    multiplier: float = 2.0
    timeout: float = 60.0

    @property
    def deadline(self) -> float:
        """Upper bound of the time spent on one call including its retries."""
        waits, delay = 0.0, self.initial
        for _ in range(self.attempts):
            waits += min(delay, self.maximum)
            delay *= self.multiplier
        return waits + self.timeout * (self.attempts + 1)


class RateLimiter:
    """At most ``rate`` acquisitions per ``per`` seconds for each key (a sliding window).

    Thread-safe; one instance is shared by every source in a process (Search Console
    allows 1,200 queries a minute per site and per user). ``acquire`` sleeps as long as
    needed and returns the seconds it waited.
    """

    def __init__(
        self,
        *,
        rate: int,
        per: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 1 or per <= 0:
            raise ValueError(f"rate must be >= 1 and per > 0, got rate={rate}, per={per}")
        self.rate, self.per = rate, per
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._stamps: dict[Hashable, deque[float]] = {}

    def acquire(self, *keys: Hashable) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = max((self._wait(key, now) for key in keys), default=0.0)
                if wait <= 0:
                    for key in keys:
                        self._stamps.setdefault(key, deque()).append(now)
                    return waited
            self._sleep(wait)
            waited += wait

    def _wait(self, key: Hashable, now: float) -> float:
        stamps = self._stamps.get(key)
        if stamps is None:
            return 0.0
        while stamps and stamps[0] <= now - self.per:
            stamps.popleft()
        return 0.0 if len(stamps) < self.rate else stamps[0] + self.per - now


class TtlMemo(Generic[K, V]):
    """A small thread-safe memo whose entries expire ``ttl`` seconds after they were set."""

    def __init__(self, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or self._clock() - item[0] > self.ttl:
                self._items.pop(key, None)
                return None
            return item[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = (self._clock(), value)
