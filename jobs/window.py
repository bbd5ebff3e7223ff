"""How many days of history one day's detection needs (no database or engine code here,
so ``barometer detect`` can window a file without importing them)."""

from __future__ import annotations

from jobs.detection.params import DetectionParams

__all__ = ["CHART_DAYS", "history_days"]

#: Days of history a finding's chart shows.
CHART_DAYS = 56


def history_days(params: DetectionParams) -> int:
    """Days of stored history detection on one day needs (training window, chart, shifts)."""
    longest = max([params.defaults.training_days, *(m.training_days for m in params.metrics.values())])
    return max(longest, CHART_DAYS) + 14
