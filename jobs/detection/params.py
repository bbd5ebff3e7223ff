"""Analyst knobs for detection, with their documented defaults.

The same names appear in ``barometer.toml`` under ``[detection]`` (defaults for every
metric) and ``[detection.metrics.NAME]`` (one metric).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date

__all__ = ["BUILTIN", "DetectionParams", "DirectionFilter", "MetricParams", "metric_defaults"]


class DirectionFilter(enum.StrEnum):
    BOTH = "both"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class MetricParams:
    #: Target false discovery rate across the series of one property x metric x day.
    sensitivity: float = 0.01
    #: Largest p-value any one finding may have, however large its family: on noise alone
    #: about this share of series-days would alert (0.00003: about one in 33,000).
    max_p_value: float = 3e-5
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
    #: A count at least this many times its usual level (the lower of its expected value and
    #: the median of the same weekday over the last 8 weeks; that level at least
    #: ``min_volume``) and twice both its expected value and that weekday median is a burst:
    #: reported whatever came before it (never absorbed as an ongoing shift), if its one-sided
    #: p-value is below 0.05 and it has the minimum change. 0 turns the rule off.
    burst_ratio: float = 3.0
    #: Decision interval ``h`` of the one-sided CUSUM on the standardised residuals of the
    #: last 21 days (:mod:`jobs.detection.cusum`): a slow or sustained change whose days are
    #: each only moderately off is reported as a level shift when the sum exceeds it. 0 turns
    #: the test off.
    cusum_threshold: float = 12.0
    #: A rate (CTR, a conversion rate) whose last week is at least this many noise units
    #: (and ``max(min_change_pct, 0.2)``) off the three weeks that ended two weeks before
    #: has slid (:mod:`jobs.detection.erosion`): reported once, on the first such day,
    #: unless announced already. 0 turns the test off.
    slide_z: float = 5.0
    #: Days left out of baselines and never reported (holidays, known incidents).
    exclude_dates: tuple[date, ...] = ()


#: Built-in per-metric departures from the defaults, where a metric's unit differs:
#: ``position`` is in ranks, so its smallest absolute change is one rank, not ten; and an
#: average rank over a few impressions is mostly noise (a deep page moving 5-9 ranks), so
#: it is judged only on days with at least 100 impressions expected and observed.
BUILTIN: dict[str, dict[str, float]] = {"position": {"min_change_abs": 1.0, "min_volume": 100.0}}


def metric_defaults(metric: str, defaults: MetricParams) -> MetricParams:
    """``defaults`` as they apply to ``metric`` (with its :data:`BUILTIN` departures)."""
    changes = BUILTIN.get(metric)
    return replace(defaults, **changes) if changes else defaults  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DetectionParams:
    defaults: MetricParams = field(default_factory=MetricParams)
    metrics: dict[str, MetricParams] = field(default_factory=dict)
    #: Property name -> ISO country whose public holidays it keeps (``[[properties]] country``).
    countries: dict[str, str] = field(default_factory=dict)
    #: (property, metric, series) -> the ``max_p_value`` analysts' labels taught that series
    #: (:mod:`jobs.detection.learning`); others keep their metric's.
    learned: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def for_metric(self, metric: str) -> MetricParams:
        found = self.metrics.get(metric)
        return found if found is not None else metric_defaults(metric, self.defaults)

    def with_metric(self, metric: str, **changes: object) -> DetectionParams:
        base = self.for_metric(metric)
        return replace(self, metrics={**self.metrics, metric: replace(base, **changes)})  # type: ignore[arg-type]
