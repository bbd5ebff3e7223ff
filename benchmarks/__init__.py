"""Benchmarks: ``make bench`` runs ``python -m benchmarks`` and prints its figures."""
