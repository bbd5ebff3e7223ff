"""The small interfaces the pipeline depends on. Concrete adapters are chosen only by
the composition root (:mod:`worker.bootstrap`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from jobs.domain import Finding, Observation, PropertySpec

__all__ = ["MetricSource", "Summariser", "Summary"]


class MetricSource(Protocol):
    """Where a property's numbers come from (GA4, Search Console, a CSV, the demo)."""

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        """The newest date the source has finished counting for ``spec``."""
        ...

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        """Every observation from ``start`` to ``end`` inclusive, totals and breakdowns.

        Days after ``last_final_date`` are yielded flagged ``PointFlag.INCOMPLETE``.
        Raises :class:`jobs.errors.SourceError` subclasses.
        """
        ...


@dataclass(frozen=True, slots=True)
class Summary:
    headline: str
    text: str
    summariser: str


class Summariser(Protocol):
    """Writes the plain-language opening of a digest. Never decides what is anomalous."""

    def summarise(self, findings: Sequence[Finding], *, data_date: date) -> Summary: ...
