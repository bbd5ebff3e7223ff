"""How findings are ranked everywhere a digest orders them (deterministic for any input order)."""

from __future__ import annotations

import math

from jobs.domain import TOTAL_SERIES, Finding

__all__ = ["impact", "rank_key"]

#: Relative change used for "up from zero" so it ranks above any finite change.
_FROM_ZERO = 1e9


def impact(finding: Finding) -> float:
    """How big the move is: the absolute relative change against expectation."""
    change = finding.anomaly.change
    return _FROM_ZERO if math.isinf(change) else abs(change)


def rank_key(finding: Finding) -> tuple[int, float, bool, str, str]:
    """Most severe first, then the largest change, totals before children, then by key."""
    return (
        -finding.severity.rank,
        -impact(finding),
        finding.anomaly.series != TOTAL_SERIES,
        finding.dedupe_key,
        finding.anomaly.day.isoformat(),
    )
