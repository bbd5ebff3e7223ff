"""Values of the hourly watch.

Hours are the property's wall-clock hours (GA4's ``dateHour`` is local time; Search
Console's Pacific timestamps are converted), held as naive datetimes at the start of the
hour. A day has 24 slots: on the day clocks go forward one slot stays empty, on the day
they go back the repeated hour is counted in one slot, as GA4 reports it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from jobs.domain import Finding, FloatArray, PointFlag

__all__ = [
    "HOUR",
    "WEEK_HOURS",
    "Frontier",
    "HourPoint",
    "HourlyFinding",
    "HourlyPanel",
    "RealtimeWindow",
    "hour_floor",
]

HOUR = timedelta(hours=1)
#: Hours in a week: the same hour last week is 168 slots back.
WEEK_HOURS = 168


def hour_floor(moment: datetime) -> datetime:
    """The start of the hour ``moment`` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class HourPoint:
    """One value of one metric of one series in one local hour."""

    property: str
    series: str
    metric: str
    hour: datetime  # naive, the property's wall-clock time at the start of the hour
    value: float
    flags: PointFlag = PointFlag.NONE


@dataclass(frozen=True)
class HourlyPanel:
    """Many series of one metric over contiguous local hours from ``start``.

    ``values[i, j]`` is series ``series[i]`` in hour ``start + j hours``; NaN is missing.
    """

    property: str
    metric: str
    series: tuple[str, ...]
    start: datetime
    values: FloatArray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != len(self.series):
            raise ValueError(f"values has shape {self.values.shape}, expected ({len(self.series)}, hours)")
        if hour_floor(self.start) != self.start:
            raise ValueError(f"start {self.start} is not the start of an hour")

    @builtins.property  # a field named ``property`` shadows the builtin in these classes
    def hours(self) -> int:
        return int(self.values.shape[1])

    def hour_at(self, index: int) -> datetime:
        return self.start + index * HOUR

    def index(self, hour: datetime) -> int:
        """The column of ``hour`` (may be outside the panel)."""
        return int((hour - self.start) // HOUR)

    def row(self, series: str) -> FloatArray:
        row: FloatArray = self.values[self.series.index(series)]
        return row

    def extended(self, hours: int) -> HourlyPanel:
        """The panel with ``hours`` more (empty) columns at the end."""
        pad = np.full((len(self.series), max(hours, 0)), np.nan)
        return HourlyPanel(self.property, self.metric, self.series, self.start, np.hstack([self.values, pad]))


@dataclass(frozen=True, slots=True)
class Frontier:
    """How far a property's hourly data reach.

    Hours before ``complete`` are counted in full. ``partial`` is the share of the hour at
    ``complete`` that has elapsed and is counted (0 when that hour is not counted at all):
    at 10:40 with fresh data, ``complete`` is 10:00 and ``partial`` 2/3, and the 10:00 hour
    is judged against two thirds of its expectation.
    """

    complete: datetime
    partial: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.partial < 1.0:
            raise ValueError(f"partial must be in [0, 1), got {self.partial}")


@dataclass(frozen=True, slots=True)
class RealtimeWindow:
    """A metric's total over the last minutes (GA4's Realtime API), oldest minute first.

    ``end`` is the local wall-clock minute after the newest counted one.
    """

    property: str
    metric: str
    end: datetime
    per_minute: tuple[float, ...]

    @builtins.property  # a field named ``property`` shadows the builtin in these classes
    def minutes(self) -> int:
        return len(self.per_minute)

    @builtins.property  # a field named ``property`` shadows the builtin in these classes
    def start(self) -> datetime:
        return self.end - timedelta(minutes=self.minutes)

    @builtins.property  # a field named ``property`` shadows the builtin in these classes
    def value(self) -> float:
        return float(sum(self.per_minute))

    def last_active(self) -> datetime | None:
        """The minute after the newest one with a count, None when every minute was zero."""
        for back, value in enumerate(reversed(self.per_minute)):
            if value > 0:
                return self.end - timedelta(minutes=back)
        return None


@dataclass(frozen=True, slots=True)
class HourlyFinding:
    """A finding of the hourly watch and the local time window it is about."""

    finding: Finding
    start: datetime
    end: datetime
    #: Seen in the Realtime API's last minutes rather than in hourly data.
    realtime: bool = False

    @builtins.property  # a field named ``property`` shadows the builtin in these classes
    def duration(self) -> timedelta:
        return self.end - self.start
