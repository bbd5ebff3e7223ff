"""What the Google sources accept, without importing their client libraries (settings
validation uses these at start-up)."""

from __future__ import annotations

__all__ = ["GSC_DIMENSIONS", "GSC_METRICS"]

#: Dimensions a Search Console property may break down by.
GSC_DIMENSIONS = ("query", "page", "country", "device", "searchAppearance")
#: Metrics a Search Console property may watch (``ctr`` is derived from clicks and impressions, not stored).
GSC_METRICS = ("clicks", "impressions", "ctr", "position")
