"""Small PNG charts of a finding: actual against the expected band.

Uses matplotlib's object API (``Figure`` + the Agg canvas) rather than ``pyplot``: no
global figure registry, no backend switch, safe in worker threads. Output is
deterministic for a given matplotlib version (no timestamps or software tag in the PNG).
Sized for a phone (480 x 200 px, labels still legible shrunk to a 375 px screen) and stored as a
palette PNG (about 10 KB); light on white, so it stays readable in dark mode too.
matplotlib and Pillow are imported on first use: a worker that sends no email never pays
for them.
"""

from __future__ import annotations

import io
import math

from jobs.domain import ChartData

__all__ = ["render_chart"]

_WIDTH_IN, _HEIGHT_IN, _DPI = 4.8, 2.0, 100  # 480 x 200 px
_ACTUAL = "#1f4e79"
_EXPECTED = "#7f7f7f"
_BAND = "#d9e2ec"
_MARK = "#c0392b"
_MAX_TICKS = 4
_MAX_TITLE = 34  # leaves room for the legend on the right
_COLOURS = 32  # palette size of the PNG


def render_chart(chart: ChartData, *, title: str) -> bytes:
    """A 480x200 palette PNG of ``chart``: shaded expected band, dashed expected line, actual line,
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
    ax.tick_params(labelsize=11, length=2)
    # fig.text, not ax.set_title: the title needs no layout pass (a third of the draw time)
    fig.text(0.02, 0.91, _short(title), fontsize=12, parse_math=False)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.margins(x=0.01)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
    ax.legend(fontsize=10, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, borderaxespad=0.1)
    fig.subplots_adjust(left=0.12, right=0.93, top=0.76, bottom=0.15)
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=_DPI)
    return _palette_png(raw.getvalue(), (round(_WIDTH_IN * _DPI), round(_HEIGHT_IN * _DPI)))


def _palette_png(rgba: bytes, size: tuple[int, int]) -> bytes:
    """The RGBA pixels as an optimised palette PNG (a fraction of a truecolour PNG's size)."""
    from PIL import Image

    image = Image.frombuffer("RGBA", size, rgba, "raw", "RGBA", 0, 1).convert("RGB")
    small = image.quantize(colors=_COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _short(title: str) -> str:
    flat = " ".join(title.split())
    return flat if len(flat) <= _MAX_TITLE else flat[: _MAX_TITLE - 1] + "…"


def _last_finite(values: tuple[float, ...]) -> int | None:
    for i in range(len(values) - 1, -1, -1):
        if math.isfinite(values[i]):
            return i
    return None
