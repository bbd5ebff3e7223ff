"""Anomaly detection over :class:`jobs.domain.MetricPanel` values, vectorised."""
