"""The metrics CSV: round trips, the panel reader, and one clear line per kind of mistake."""

from __future__ import annotations

import io
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from jobs.csvio import read_metrics_csv, read_panels_csv, write_metrics_csv
from jobs.detection import build_panels
from jobs.domain import TOTAL_SERIES, Observation
from jobs.errors import InputError

D = date(2024, 5, 1)


def _observations() -> list[Observation]:
    obs = []
    for n in range(10):
        day = D + timedelta(days=n)
        obs += [
            Observation("shop", TOTAL_SERIES, "clicks", day, 10.0 + n),
            Observation("shop", TOTAL_SERIES, "impressions", day, 200.0 + 7 * n),
            Observation("shop", 'query:shoes, "red"', "clicks", day, float(n)),
            Observation("shop", 'query:shoes, "red"', "impressions", day, 50.0),
            Observation("shop", TOTAL_SERIES, "position", day, 3.1 + n / 3),
        ]
    return obs


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_keeps_every_number(tmp_path: Path) -> None:
    out = io.StringIO()
    original = _observations()
    assert write_metrics_csv(reversed(original), out) == 50
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "date,series,metric,value"
    assert lines[1] == '2024-05-01,"query:shoes, ""red""",clicks,0'  # sorted, quoted, integer as 0
    assert f"2024-05-02,total,position,{3.1 + 1 / 3!r}" in lines
    assert "2024-05-01,total,position,3.1" in lines
    back = read_metrics_csv(_write(tmp_path, text), property="shop")
    assert sorted(back, key=repr) == sorted(original, key=repr)


def test_panels_from_the_bulk_reader_match_the_observation_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = ["date,series,metric,value"]
    for n in range(30):
        day = (D + timedelta(days=n)).isoformat()
        for s in range(50):
            name = TOTAL_SERIES if s == 0 else f"page:/p{s}"
            if n != 3 or s != 7:  # one gap
                rows.append(f"{day},{name},sessions,{rng.poisson(40)}")
            rows.append(f"{day},{name},bounceRate,{rng.uniform():.4f}")
    path = _write(tmp_path, "\n".join(rows) + "\n")
    fast = {p.metric: p for p in read_panels_csv(path)}
    slow = {p.metric: p for p in build_panels(read_metrics_csv(path, property="csv"))}
    assert set(fast) == set(slow) == {"sessions", "bounceRate"}
    for metric, panel in fast.items():
        assert panel.series == slow[metric].series
        assert panel.series[0] == TOTAL_SERIES
        assert panel.dates == slow[metric].dates
        assert panel.last_final == D + timedelta(days=29)
        np.testing.assert_array_equal(panel.values, slow[metric].values)
    assert math.isnan(fast["sessions"].row("page:/p7")[3])


def test_quoted_fields_and_blank_lines_take_the_exact_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path, 'date,series,metric,value\r\n2024-05-01,"query:a, b",clicks,3\r\n\r\n2024-05-01,total,clicks,3\r\n'
    )
    panels = {p.metric: p for p in read_panels_csv(path, property="x")}
    assert panels["clicks"].series == (TOTAL_SERIES, "query:a, b")
    assert panels["clicks"].property == "x"


def test_ctr_comes_with_clicks_and_impressions(tmp_path: Path) -> None:
    out = io.StringIO()
    write_metrics_csv(_observations(), out)
    panels = {p.metric: p for p in read_panels_csv(_write(tmp_path, out.getvalue()))}
    assert set(panels) == {"clicks", "impressions", "position", "ctr"}
    assert panels["ctr"].row(TOTAL_SERIES)[2] == pytest.approx(12 / 214)


GOOD = "2024-05-01,total,sessions,12\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "data.csv:1: file is empty, expected header 'date,series,metric,value'"),
        ("date,series,metric,value\n", "data.csv:2: no data rows after the header"),
        (
            "day,series,metric,value\n" + GOOD,
            "data.csv:1: expected header 'date,series,metric,value', got 'day,series,metric,value'",
        ),
        (
            "date,series,metric,value\n" + GOOD * 0 + "2024-13-01,total,sessions,3\n",
            "data.csv:2: date '2024-13-01' is not YYYY-MM-DD",
        ),
        ("date,series,metric,value\n2024-5-1,total,sessions,3\n", "data.csv:2: date '2024-5-1' is not YYYY-MM-DD"),
        ("date,series,metric,value\n2024-05-01,total,sessions,many\n", "data.csv:2: value 'many' is not a number"),
        ("date,series,metric,value\n2024-05-01,total,sessions,nan\n", "data.csv:2: value 'nan' is not a number"),
        (
            "date,series,metric,value\n2024-05-01,total,clicks,-3\n",
            "data.csv:2: clicks is a count and cannot be negative, got -3",
        ),
        (
            "date,series,metric,value\n2024-05-01,total,sessions\n",
            "data.csv:2: expected 4 fields (date,series,metric,value), got 3",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_panels_csv(path)
    assert str(info.value) == message
    with pytest.raises(InputError) as again:
        read_metrics_csv(path, property="p")
    assert str(again.value) == message


def test_bad_date_and_duplicate_name_their_line(tmp_path: Path) -> None:
    rows = ["date,series,metric,value"]
    rows += [f"2024-04-{n:02d},total,sessions,{n}" for n in range(1, 30)]  # lines 2..30
    rows += [f"2024-05-{n:02d},total,sessions,{n}" for n in range(1, 10)]  # lines 31..39
    rows.append("2024-04-11,total,sessions,99")  # line 40 repeats line 12
    rows.append("2024-04-12,total,sessions,99")  # line 41 repeats line 13
    path = _write(tmp_path, "\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        read_panels_csv(path)
    assert str(info.value) == "data.csv:40: duplicate row for 2024-04-11 total sessions (first at line 12)"
    rows[16] = "2024-13-01,total,sessions,1"
    with pytest.raises(InputError) as bad:
        read_metrics_csv(_write(tmp_path, "\n".join(rows) + "\n"), property="p")
    assert str(bad.value) == "data.csv:17: date '2024-13-01' is not YYYY-MM-DD"


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: cannot read \(No such file or directory\)$"):
        read_panels_csv(tmp_path / "nope.csv")
