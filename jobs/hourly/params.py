"""Knobs of the hourly watch, with their documented defaults (``[hourly]`` in barometer.toml)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HourlyParams"]


@dataclass(frozen=True, slots=True)
class HourlyParams:
    """What the hourly watch calls a big change. Every rule also needs the count-aware
    noise model to find the change far beyond noise (``collapse_p_value``, ``max_p_value``)."""

    #: Same hour of the week, this many weeks back, makes the baseline (Tuesday 10:00
    #: against the last 8 Tuesdays at 10:00).
    weeks: int = 8
    #: Fewest of those weeks with data before an hour is judged.
    min_weeks: int = 3
    #: A tracking break: the metric at or below this share of its expectation.
    break_share: float = 0.1
    #: Trailing windows (hours) over which a break is looked for: a small metric needs a few
    #: hours of silence before its zero means anything.
    break_windows: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12)
    #: A collapse: at least this relative fall ...
    collapse_pct: float = 0.5
    #: ... in each of this many consecutive complete hours (at least) ...
    collapse_hours: int = 2
    #: ... judged over trailing windows of ``collapse_hours`` up to this many hours: a small
    #: series needs a few hours down before the fall is beyond noise.
    collapse_longest: int = 6
    #: The largest lower-tail probability of a collapse's window under the noise model.
    collapse_p_value: float = 3e-8
    #: A spike: at least this many times the expectation.
    spike_ratio: float = 3.0
    #: Windows expected to carry fewer counts than this are not judged (and a spike must
    #: exceed its expectation by at least this much).
    min_expected: float = 10.0
    #: The largest upper-tail probability of a spike under the noise model.
    max_p_value: float = 1e-6

    def __post_init__(self) -> None:
        if not 1 <= self.min_weeks <= self.weeks:
            raise ValueError(f"min_weeks must be between 1 and weeks ({self.weeks}), got {self.min_weeks}")
        if not 0 < self.break_share < self.collapse_pct < 1:
            raise ValueError("expected 0 < break_share < collapse_pct < 1")
        if not 1 <= self.collapse_hours <= self.collapse_longest:
            raise ValueError(f"collapse_longest must be at least collapse_hours ({self.collapse_hours})")
        if self.spike_ratio <= 1 or self.collapse_hours < 1 or not self.break_windows:
            raise ValueError("spike_ratio must exceed 1, collapse_hours be >= 1 and break_windows not empty")
