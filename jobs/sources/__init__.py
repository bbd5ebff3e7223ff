"""Metric sources: where a property's numbers come from (GA4, Search Console, CSV, demo).

Each implements :class:`jobs.ports.MetricSource`. Series naming is project-wide: a
property's total is :data:`jobs.domain.TOTAL_SERIES` (``"total"``) and a breakdown child
is ``"{dimension}:{value}"`` (``"landingPage:/pricing"``, ``"query:running shoes"``).
"""
