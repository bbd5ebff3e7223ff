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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from jobs.domain import TOTAL_SERIES, FloatArray, MetricPanel, Observation, PointFlag

__all__ = [
    "NameParts",
    "aligned",
    "build_panels",
    "derive_ctr",
    "dimension_groups",
    "dimension_of",
    "name_parts",
    "parent_of",
    "parents",
    "series_order",
    "site_of",
]


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


class NameParts(NamedTuple):
    """Every series name split once, as numpy arrays (see :func:`name_parts`)."""

    #: Each name's part before its first ``:`` (the whole name for a top-level series),
    #: as fixed-width numpy strings with NUL escaped (see :func:`name_parts`).
    heads: npt.NDArray[np.str_]
    #: Whether each name is a breakdown child (holds a ``:``).
    child: npt.NDArray[np.bool_]
    #: Whether NUL and ``\x01`` were escaped in ``heads`` (names held a NUL).
    escaped: bool


def name_parts(names: Sequence[str]) -> NameParts:
    r"""Split every name at its first ``:`` in one vectorised pass.

    Fixed-width numpy strings drop trailing NULs, so if any name holds one, ``\x01`` and NUL
    are first escaped as ``\x01\x02`` and ``\x01\x03``: an injective rewrite that leaves
    ``:`` and ``/`` alone, so splitting and comparing escaped names matches the originals.
    """
    escaped = "\x00" in "".join(names)
    if escaped:
        names = [n.replace("\x01", "\x01\x02").replace("\x00", "\x01\x03") for n in names]
    if not names:
        return NameParts(np.array([], dtype=np.str_), np.array([], dtype=np.bool_), escaped)
    heads, seps, _ = np.strings.partition(np.array(names, dtype=np.str_), ":")
    return NameParts(heads, seps != "", escaped)


def _unescape(text: str) -> str:
    return text.replace("\x01\x03", "\x00").replace("\x01\x02", "\x01")


def dimension_groups(parts: NameParts) -> tuple[dict[str, list[int]], npt.NDArray[np.int64]]:
    """Children's row indices per dimension, and each series' group label.

    Dimensions come in order of first appearance; a dimension's label is its position
    there plus one, and a top-level series is in group 0.
    """
    groups = np.zeros(len(parts.heads), dtype=np.int64)
    rows = np.flatnonzero(parts.child)
    if not len(rows):
        return {}, groups
    dims, first, inverse = np.unique(parts.heads[rows], return_index=True, return_inverse=True)
    order = np.argsort(first)
    label = np.empty(len(dims), dtype=np.int64)
    label[order] = np.arange(1, len(dims) + 1)
    groups[rows] = label[inverse]
    by_label = rows[np.argsort(groups[rows], kind="stable")]
    bounds = np.cumsum(np.bincount(groups[rows])[1:])[:-1]
    keys: list[str] = dims[order].tolist()
    if parts.escaped:
        keys = [_unescape(k) for k in keys]
    return {k: r.tolist() for k, r in zip(keys, np.split(by_label, bounds), strict=True)}, groups


def parents(names: Sequence[str], parts: NameParts | None = None) -> npt.NDArray[np.int64]:
    """For each series of ``names``, the index of its parent among ``names`` (-1: none).

    A child's parent is its site's ``total``, else the top-level series named like the site
    prefix (``"gsc/shop"`` for ``"gsc/shop/page:/x"``); of several equal names, the last.
    ``parts`` is ``name_parts(names)`` if already computed.
    """
    if parts is None:
        parts = name_parts(names)
    out = np.full(len(parts.heads), -1, dtype=np.int64)
    rows = np.flatnonzero(parts.child)
    if not len(rows):
        return out
    sites, inverse = np.unique(np.strings.rpartition(parts.heads[rows], "/")[0], return_inverse=True)
    totals = np.where(sites != "", np.strings.add(sites, f"/{TOTAL_SERIES}"), TOTAL_SERIES)
    # Top-level names sorted stably: the last of equal names sits just left of searchsorted(side="right").
    top = np.flatnonzero(~parts.child)
    top = top[np.argsort(parts.heads[top], kind="stable")]
    found = _last_index(parts.heads[top], top, totals)
    found = np.where(found >= 0, found, _last_index(parts.heads[top], top, sites))
    out[rows] = found[inverse]
    return out


def _last_index(
    sorted_names: npt.NDArray[np.str_], index: npt.NDArray[np.intp], keys: npt.NDArray[np.str_]
) -> npt.NDArray[np.int64]:
    """``index`` at the last of ``sorted_names`` equal to each key (-1: none)."""
    if not len(sorted_names):
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_names, keys, side="right") - 1
    hit = (pos >= 0) & (sorted_names[np.maximum(pos, 0)] == keys)
    return np.where(hit, index[np.maximum(pos, 0)], -1).astype(np.int64)


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
