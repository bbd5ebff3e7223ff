"""A finding's series as an inline SVG: actual, expected, the usual range, flagged days.

Drawn on the server from the finding's stored chart data (the days before it, as the
detector saw them), so the page needs no script. Every label is autoescaped text: the
SVG is built with :mod:`xml.sax.saxutils` escapes, never by pasting names into markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from jobs.domain import ChartData

__all__ = ["HEIGHT", "WIDTH", "series_svg"]

WIDTH, HEIGHT = 880, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 28


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _path(points: Sequence[tuple[float, float] | None]) -> str:
    out: list[str] = []
    pen_up = True
    for point in points:
        if point is None:
            pen_up = True
            continue
        out.append(f"{'M' if pen_up else 'L'}{point[0]:.1f},{point[1]:.1f}")
        pen_up = False
    return " ".join(out)


def series_svg(chart: ChartData, *, flagged: Mapping[date, int], title: str) -> str:
    """The SVG markup of ``chart``; ``flagged`` days (day -> finding id) get a red dot linking to that finding."""
    n = len(chart.dates)
    values = [v for seq in (chart.actual, chart.expected, chart.lower, chart.upper) for v in seq if math.isfinite(v)]
    if n == 0 or not values:
        return '<p class="muted">No chart data was stored with this finding.</p>'
    low, high = min(0.0, *values), max(values)
    span = (high - low) or 1.0
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / max(n - 1, 1))

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - (v - low) / span)

    def line(seq: Sequence[float]) -> str:
        return _path([(x(i), y(v)) if math.isfinite(v) else None for i, v in enumerate(seq)])

    band_top = [(x(i), y(v)) for i, v in enumerate(chart.upper) if math.isfinite(v) and math.isfinite(chart.lower[i])]
    band_low = [
        (x(i), y(chart.lower[i]))
        for i, v in enumerate(chart.upper)
        if math.isfinite(v) and math.isfinite(chart.lower[i])
    ]
    band = ""
    if band_top:
        outline = band_top + list(reversed(band_low))
        band = '<path class="band" d="' + _path(outline) + ' Z"><title>usual range</title></path>'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f"aria-label={quoteattr(title)}>",
        f"<title>{escape(title)}</title>",
        band,
    ]
    for k in range(5):
        v = low + span * k / 4
        parts.append(f'<line class="axis" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle">{chart.dates[i]:%b %d}</text>')
    parts.append(f'<path class="expected" d="{line(chart.expected)}"><title>expected</title></path>')
    parts.append(f'<path class="actual" d="{line(chart.actual)}"><title>actual</title></path>')
    for i, day in enumerate(chart.dates):
        finding_id = flagged.get(day)
        value = chart.actual[i]
        if finding_id is None or not math.isfinite(value):
            continue
        label = escape(f"{day.isoformat()}: {_fmt(value)} (finding {finding_id})")
        parts.append(
            f'<a href="/findings/{finding_id}"><circle class="flagged" cx="{x(i):.1f}" cy="{y(value):.1f}" r="5">'
            f"<title>{label}</title></circle></a>"
        )
    parts.append("</svg>")
    return "".join(p for p in parts if p)
