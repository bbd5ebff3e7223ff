"""The backtest's PNG: findings per ISO week, stacked by metric, labelled false alarms marked.

matplotlib's object API (``Figure`` + the Agg canvas, as in :mod:`alerts.charts`): no
pyplot global state, safe in any thread, deterministic bytes for a matplotlib version.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Protocol

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["render_weeks"]

_PALETTE = ("#1f4e79", "#c0392b", "#2e8b57", "#d68910", "#6c3483", "#117a8b", "#7f8c8d", "#a04000")


class _Row(Protocol):
    @property
    def week(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def findings(self) -> int: ...
    @property
    def false_alarms(self) -> int: ...


def _weeks(start: date, end: date) -> list[str]:
    out: list[str] = []
    day = start
    while day <= end:
        year, week, _ = day.isocalendar()
        label = f"{year}-W{week:02d}"
        if label not in out:
            out.append(label)
        day += timedelta(days=1)
    return out


def render_weeks(rows: Sequence[_Row], *, start: date, end: date, title: str) -> bytes:
    """A PNG (about 800x320) of findings per week, one colour per metric, every week of
    ``start..end`` on the axis (quiet weeks too); false alarms as a hatched overlay."""
    weeks = _weeks(start, end)
    metrics = sorted({r.metric for r in rows})
    counts = {(r.week, r.metric): r.findings for r in rows}
    false = {w: sum(r.false_alarms for r in rows if r.week == w) for w in weeks}
    fig = Figure(figsize=(8.0, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for n, metric in enumerate(metrics):
        heights = [counts.get((w, metric), 0) for w in weeks]
        ax.bar(xs, heights, bottom=bottom, color=_PALETTE[n % len(_PALETTE)], label=metric, width=0.7)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if any(false.values()):
        ax.bar(
            xs, [false[w] for w in weeks], fill=False, hatch="///", edgecolor="#333333", width=0.7, label="false alarms"
        )
    step = max(1, len(weeks) // 12)
    ax.set_xticks(xs[::step], weeks[::step], rotation=30, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("findings", fontsize=8)
    fig.text(0.08, 0.93, title, fontsize=9, parse_math=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if metrics:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=0.08, right=0.82, top=0.88, bottom=0.22)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
