"""Anomaly detection over :class:`jobs.domain.MetricPanel` values, vectorised.

``build_panels`` (observations -> panels), ``detect`` (one day, walk-forward),
``detect_range`` (many days) and ``finding_to_json`` (the detect-output contract).

The names are loaded on first use: importing :mod:`jobs.detection.params` (as settings
do) must not pull in scipy, which costs about a second at every CLI start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.detection.engine import detect, detect_range
    from jobs.detection.explain import finding_to_json, severity
    from jobs.detection.panels import build_panels, derive_ctr

__all__ = ["build_panels", "derive_ctr", "detect", "detect_range", "finding_to_json", "severity"]

_HOMES = {
    "detect": "engine",
    "detect_range": "engine",
    "finding_to_json": "explain",
    "severity": "explain",
    "build_panels": "panels",
    "derive_ctr": "panels",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'jobs.detection' has no attribute {name!r}")
    return getattr(import_module(f"jobs.detection.{_HOMES[name]}"), name)
