"""Observations -> :class:`jobs.domain.MetricPanel` values (one per property x metric).

Series naming (project-wide): a property's total is :data:`jobs.domain.TOTAL_SERIES`; a
breakdown child is ``"{dimension}:{value}"`` (``"landingPage:/pricing"``). A series
without ``:`` is top-level; children are grouped by dimension. A file may hold several
sites as prefixes (``"gsc/shop/total"``, ``"gsc/shop/page:/pricing"``): a child's parent is
its prefix's ``total`` (or the top-level series named like the prefix, ``"gsc/shop"``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from jobs.domain import TOTAL_SERIES, FloatArray, MetricPanel, Observation, PointFlag

__all__ = ["aligned", "build_panels", "derive_ctr", "dimension_of", "parent_of", "parents", "series_order", "site_of"]


def dimension_of(series: str) -> str | None:
    """``"landingPage"`` for ``"landingPage:/pricing"``; None for a top-level series."""
    head, sep, _ = series.partition(":")
    return head if sep else None


def site_of(series: str) -> str:
    """The site prefix of a series, with its trailing ``/`` (``"gsc/shop/"``); ``""`` for none."""
    head = series.partition(":")[0]
    prefix = head.rpartition("/")[0]
    return f"{prefix}/" if prefix else ""


def parent_of(series: str) -> str | None:
    """The conventional total of a child (``"gsc/shop/total"``, ``"total"``); None for a top-level series."""
    if dimension_of(series) is None:
        return None
    return f"{site_of(series)}{TOTAL_SERIES}"


def parents(names: Sequence[str]) -> npt.NDArray[np.int64]:
    """For each series of ``names``, the index of its parent among ``names`` (-1: none).

    A child's parent is its site's ``total``, else the top-level series named like the site
    prefix (``"gsc/shop"`` for ``"gsc/shop/page:/x"``).
    """
    index = {name: i for i, name in enumerate(names) if ":" not in name}
    by_site: dict[str, int] = {}
    out = np.full(len(names), -1, dtype=np.int64)
    for i, name in enumerate(names):
        head, sep, _ = name.partition(":")
        if not sep:
            continue
        site = head.rpartition("/")[0]
        found = by_site.get(site)
        if found is None:
            found = by_site[site] = index.get(f"{site}/{TOTAL_SERIES}" if site else TOTAL_SERIES, index.get(site, -1))
        out[i] = found
    return out


def series_order(names: Iterable[str]) -> tuple[str, ...]:
    """Top-level series first (the total before anything else), then children by name."""
    ordered = sorted(set(names))
    top = [n for n in ordered if ":" not in n]
    if TOTAL_SERIES in top:
        top.remove(TOTAL_SERIES)
        top.insert(0, TOTAL_SERIES)
    return (*top, *(n for n in ordered if ":" in n))


def build_panels(observations: Iterable[Observation], *, last_final: date | None = None) -> tuple[MetricPanel, ...]:
    """Group ``observations`` by (property, metric) onto one contiguous date axis per property.

    Missing points and flagged points (any :class:`PointFlag` but NONE) are NaN. A
    ``ctr`` panel is derived from ``clicks`` / ``impressions`` when both exist and ``ctr``
    does not. ``last_final`` defaults to each property's newest date with an unflagged point.
    """
    cells: dict[tuple[str, str], dict[tuple[str, date], float]] = defaultdict(dict)
    days: dict[str, list[date]] = defaultdict(list)
    finals: dict[str, date] = {}
    for ob in observations:
        days[ob.property].append(ob.day)
        if ob.flags != PointFlag.NONE:
            continue
        cells[ob.property, ob.metric][ob.series, ob.day] = ob.value
        if ob.property not in finals or ob.day > finals[ob.property]:
            finals[ob.property] = ob.day
    panels: list[MetricPanel] = []
    for (prop, metric), points in sorted(cells.items()):
        first, last = min(days[prop]), max(days[prop])
        axis = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
        series = series_order(name for name, _ in points)
        row = {name: i for i, name in enumerate(series)}
        values = np.full((len(series), len(axis)), np.nan)
        idx = np.fromiter((row[name] for name, _ in points), dtype=np.int64, count=len(points))
        col = np.fromiter(((day - first).days for _, day in points), dtype=np.int64, count=len(points))
        values[idx, col] = np.fromiter(points.values(), dtype=np.float64, count=len(points))
        panels.append(MetricPanel(prop, metric, series, axis, values, last_final or finals[prop]))
    return derive_ctr(panels)


def derive_ctr(panels: Sequence[MetricPanel]) -> tuple[MetricPanel, ...]:
    """``panels`` plus a ``ctr`` = clicks / impressions panel per property that lacks one.

    CTR is NaN where impressions are zero or missing; series are those present in both (no
    panel when no series has both).
    """
    by_key = {(p.property, p.metric): p for p in panels}
    out = list(panels)
    for prop in sorted({p.property for p in panels}):
        clicks, impressions = by_key.get((prop, "clicks")), by_key.get((prop, "impressions"))
        if clicks is None or impressions is None or (prop, "ctr") in by_key:
            continue
        if not set(clicks.series) & set(impressions.series):
            continue  # clicks and impressions on different series: no CTR to derive
        out.append(_ctr_panel(clicks, impressions))
    return tuple(out)


def aligned(panel: MetricPanel, series: Sequence[str], dates: Sequence[date]) -> FloatArray:
    """``panel.values`` re-indexed onto ``series`` x ``dates`` (NaN where absent)."""
    row = {name: i for i, name in enumerate(panel.series)}
    day0 = panel.dates[0]
    out = np.full((len(series), len(dates)), np.nan)
    rows = np.array([row.get(name, -1) for name in series], dtype=np.int64)
    cols = np.array([(d - day0).days for d in dates], dtype=np.int64)
    ok_cols = (cols >= 0) & (cols < len(panel.dates))
    ok_rows = rows >= 0
    sub = panel.values[rows[ok_rows]][:, cols[ok_cols]]
    out[np.ix_(np.flatnonzero(ok_rows), np.flatnonzero(ok_cols))] = sub
    return out


def _ctr_panel(clicks: MetricPanel, impressions: MetricPanel) -> MetricPanel:
    both = set(clicks.series) & set(impressions.series)
    series = series_order(both)
    num = aligned(clicks, series, clicks.dates)
    den = aligned(impressions, series, clicks.dates)
    with np.errstate(invalid="ignore", divide="ignore"):
        ctr = np.where(den > 0, num / den, np.nan)
    last = min(clicks.last_final, impressions.last_final)
    return MetricPanel(clicks.property, "ctr", series, clicks.dates, ctr, last)
