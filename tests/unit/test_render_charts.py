"""Finding charts: small, deterministic PNGs."""

from __future__ import annotations

import struct

import pytest

from alerts.charts import render_chart
from jobs.domain import ChartData
from tests.fakes import chart


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_chart_is_a_480_by_200_png_sized_for_a_phone() -> None:
    assert _size(render_chart(chart(last=590, expected=1000), title="sessions · All traffic")) == (480, 200)


def test_same_input_gives_the_same_bytes() -> None:
    data = chart(last=12, expected=310)
    assert render_chart(data, title="t") == render_chart(data, title="t")


def test_titles_with_dollar_signs_are_not_parsed_as_math() -> None:
    png = render_chart(chart(last=1, expected=2), title="Query $ price $$ {\\frac}")
    assert _size(png) == (480, 200)


def test_gaps_and_a_single_day_render() -> None:
    gappy = chart(last=float("nan"), expected=100)
    assert _size(render_chart(gappy, title="gaps")) == (480, 200)
    one = ChartData(dates=gappy.dates[:1], actual=(1.0,), expected=(2.0,), lower=(1.5,), upper=(2.5,))
    assert _size(render_chart(one, title="one day")) == (480, 200)


def test_mismatched_lengths_name_the_field() -> None:
    bad = chart(last=1, expected=2)
    bad = ChartData(dates=bad.dates, actual=bad.actual[:-1], expected=bad.expected, lower=bad.lower, upper=bad.upper)
    with pytest.raises(ValueError, match=r"ChartData.actual has 27 values, expected 28"):
        render_chart(bad, title="x")


def test_a_chart_is_a_small_palette_png() -> None:
    png = render_chart(chart(last=590, expected=1000), title="Sessions fell 41%")
    assert png[25] == 3  # colour type 3: indexed (palette)
    assert len(png) < 20_000


def test_the_palette_keeps_the_red_mark_of_the_last_day() -> None:
    import io

    from PIL import Image

    png = render_chart(chart(last=10, expected=100), title="Sessions fell 90%")
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors()
    assert colours is not None
    assert any(rgb == (0xC0, 0x39, 0x2B) for _, rgb in colours)  # alerts.charts._MARK
