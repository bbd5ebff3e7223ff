"""Anomaly detection over :class:`jobs.domain.MetricPanel` values, vectorised.

``build_panels`` (observations -> panels), ``detect`` (one day, walk-forward),
``detect_range`` (many days) and ``finding_to_json`` (the detect-output contract).
"""

from jobs.detection.engine import detect, detect_range
from jobs.detection.explain import finding_to_json, severity
from jobs.detection.panels import build_panels, derive_ctr

__all__ = ["build_panels", "derive_ctr", "detect", "detect_range", "finding_to_json", "severity"]
