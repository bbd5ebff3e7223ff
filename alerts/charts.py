"""Small PNG charts of a finding: actual against the expected band.

Uses matplotlib's object API (``Figure`` + the Agg canvas) rather than ``pyplot``: no
global figure registry, no backend switch, safe in worker threads. Output is
deterministic for a given matplotlib version (no timestamps or software tag in the PNG).
"""

from __future__ import annotations

import io
import math

from jobs.domain import ChartData

__all__ = ["render_chart"]

_WIDTH_IN, _HEIGHT_IN, _DPI = 6.0, 2.2, 100  # 600 x 220 px
_ACTUAL = "#1f4e79"
_EXPECTED = "#7f7f7f"
_BAND = "#d9e2ec"
_MARK = "#c0392b"
_MAX_TICKS = 6
_MAX_TITLE = 44  # leaves room for the legend on the right


def render_chart(chart: ChartData, *, title: str) -> bytes:
    """A 600x220 PNG of ``chart``: shaded expected band, dashed expected line, actual line,
    the last actual point marked. ``title`` is shown verbatim (no mathtext parsing)."""
    n = len(chart.dates)
    for name in ("actual", "expected", "lower", "upper"):
        if len(getattr(chart, name)) != n:
            raise ValueError(f"ChartData.{name} has {len(getattr(chart, name))} values, expected {n} (one per date)")
    # matplotlib (~0.2 s to import) only where a chart is drawn, not in every process that
    # could send an email
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(n))
    ax.fill_between(xs, chart.lower, chart.upper, color=_BAND, linewidth=0, label="usual range")
    ax.plot(xs, chart.expected, color=_EXPECTED, linestyle="--", linewidth=1, label="expected")
    ax.plot(xs, chart.actual, color=_ACTUAL, linewidth=1.6, label="actual")
    last = _last_finite(chart.actual)
    if last is not None:
        ax.plot([last], [chart.actual[last]], marker="o", markersize=5, color=_MARK, linestyle="none")
    step = max(1, math.ceil(n / _MAX_TICKS))
    ticks = [*xs[::step]]
    if n and ticks[-1] != n - 1:
        # the last day is the one that matters: always label it, dropping a crowded neighbour
        if n - 1 - ticks[-1] < step / 2 and len(ticks) > 1:
            ticks.pop()
        ticks.append(n - 1)
    ax.set_xticks(ticks, [chart.dates[i].strftime("%b %d") for i in ticks])
    ax.tick_params(labelsize=7, length=2)
    # fig.text, not ax.set_title: the title needs no layout pass (a third of the draw time)
    fig.text(0.08, 0.93, _short(title), fontsize=9, parse_math=False)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.margins(x=0.01)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
    ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, borderaxespad=0.1)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _short(title: str) -> str:
    flat = " ".join(title.split())
    return flat if len(flat) <= _MAX_TITLE else flat[: _MAX_TITLE - 1] + "…"


def _last_finite(values: tuple[float, ...]) -> int | None:
    for i in range(len(values) - 1, -1, -1):
        if math.isfinite(values[i]):
            return i
    return None
