"""Analyst knobs for detection, with their documented defaults.

The same names appear in ``barometer.toml`` under ``[detection]`` (defaults for every
metric) and ``[detection.metrics.NAME]`` (one metric).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date

__all__ = ["DetectionParams", "DirectionFilter", "MetricParams"]


class DirectionFilter(enum.StrEnum):
    BOTH = "both"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class MetricParams:
    #: Target false discovery rate across the series of one property x metric x day.
    sensitivity: float = 0.01
    #: Series whose expected value is below this are not tested (too little to say).
    min_volume: float = 20.0
    #: Smallest relative change worth reporting (0.15 = 15%).
    min_change_pct: float = 0.15
    #: Smallest absolute change worth reporting, in the metric's unit.
    min_change_abs: float = 10.0
    #: Which changes matter.
    direction: DirectionFilter = DirectionFilter.BOTH
    #: Days at the end the source is still counting; None: the source's own default.
    detection_delay_days: int | None = None
    #: How many days of history the baseline learns from.
    training_days: int = 56
    #: Days left out of baselines and never reported (holidays, known incidents).
    exclude_dates: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class DetectionParams:
    defaults: MetricParams = field(default_factory=MetricParams)
    metrics: dict[str, MetricParams] = field(default_factory=dict)

    def for_metric(self, metric: str) -> MetricParams:
        return self.metrics.get(metric, self.defaults)

    def with_metric(self, metric: str, **changes: object) -> DetectionParams:
        base = self.for_metric(metric)
        return replace(self, metrics={**self.metrics, metric: replace(base, **changes)})  # type: ignore[arg-type]
