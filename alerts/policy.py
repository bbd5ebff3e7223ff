"""Which findings a subscription hears about, and in what order.

Deliberately small for now: a severity floor and a stable ranking. Grouping, dedup
across days, snoozes and inhibition come later and will live here too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jobs.domain import TOTAL_SERIES, Finding, Severity

__all__ = ["impact", "select_findings"]

#: Relative change used for "up from zero" so it ranks above any finite change.
_FROM_ZERO = 1e9


def impact(finding: Finding) -> float:
    """How big the move is: the absolute relative change against expectation."""
    change = finding.anomaly.change
    return _FROM_ZERO if math.isinf(change) else abs(change)


def select_findings(findings: Sequence[Finding], *, min_severity: Severity) -> tuple[Finding, ...]:
    """The findings at or above ``min_severity``, most severe first, then largest impact.

    Ties go to property totals before breakdown children, then to the dedupe key, so the
    order is deterministic for a given input.
    """
    kept = [f for f in findings if f.severity.at_least(min_severity)]
    kept.sort(
        key=lambda f: (
            -f.severity.rank,
            -impact(f),
            f.anomaly.series != TOTAL_SERIES,
            f.dedupe_key,
        )
    )
    return tuple(kept)
