"""The polars reader (CSV and Parquet) gives exactly what the row-by-row reference reads,
and names the line of every mistake the same way for both engines."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from jobs import csvio
from jobs.errors import InputError
from jobs.reader import Columns, check_header, exact, newest_date_hint, read_columns, read_header, to_panels

D = date(2025, 3, 1)


def _rows(cols: Columns) -> list[tuple[str, str, str, float]]:
    return sorted(
        (cols.date_of(d).isoformat(), cols.series[s], cols.metrics[m], v)
        for d, s, m, v in zip(
            cols.day.tolist(), cols.series_code.tolist(), cols.metric_code.tolist(), cols.value.tolist(), strict=True
        )
    )


def _reference(path: Path) -> list[tuple[str, str, str, float]]:
    days, series, metrics, values, _ = exact.read_records(path)
    return sorted(zip(days, series, metrics, values, strict=True))


def _write(tmp_path: Path, lines: list[str], *, name: str = "m.csv", end: str = "\n") -> Path:
    path = tmp_path / name
    path.write_text("date,series,metric,value\n" + "\n".join(lines) + end, encoding="utf-8")
    return path


def _same_as_reference(path: Path) -> Columns:
    cols = read_columns(path)
    assert _rows(cols) == _reference(path)
    return cols


def test_a_periodic_file_with_unicode_names_reads_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = ["total", *(f"landingPage:/p{i}" for i in range(40)), "query:schuhe größe 42"]
    lines = [
        f"{(D + timedelta(days=n)).isoformat()},{name},{metric},{value}"
        for n in range(30)
        for name in names
        for metric, value in (("sessions", rng.poisson(300)), ("position", round(rng.uniform(1, 30), 2)))
    ]
    cols = _same_as_reference(_write(tmp_path, lines))
    assert set(cols.series) == set(names)
    assert sorted(cols.metrics) == ["position", "sessions"]


@pytest.mark.parametrize("change", ["reordered", "missing", "extra", "renamed"])
def test_a_later_day_out_of_step_with_the_first_is_read_exactly(tmp_path: Path, change: str) -> None:
    names = [f"page:/p{i}" for i in range(30)]
    days = [(D + timedelta(days=n)).isoformat() for n in range(12)]
    layout = {day: list(names) for day in days}
    late = layout[days[-2]]
    if change == "reordered":
        late.reverse()
    elif change == "missing":
        late.pop(7)
    elif change == "extra":
        late.append("page:/new")
    else:
        late[3] = "page:/p3x"
    _same_as_reference(_write(tmp_path, [f"{d},{n},clicks,{i}" for d in days for i, n in enumerate(layout[d])]))


def test_every_number_form_float_reads_is_read_the_same(tmp_path: Path) -> None:
    values = [
        "0", "7", "12345678", "123456789", "-3", "-0", "2.5", "-0.125", ".5", "5.", "0.1", "3.4333333333333336",
        "1e3", "1.5E-2", "  12", "99999999999999999", "000123", "1234567.125",
    ]  # fmt: skip
    lines = [f"{(D + timedelta(days=i)).isoformat()},total,bounceRate,{v}" for i, v in enumerate(values)]
    cols = _same_as_reference(_write(tmp_path, lines))
    assert sorted(cols.value.tolist()) == sorted(float(v) for v in values)


def test_shuffled_rows_with_gaps_make_the_same_panels_as_the_observation_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines = [
        f"{(D + timedelta(days=n)).isoformat()},channel:c{s},clicks,{rng.poisson(20)}"
        for n in range(20)
        for s in range(30)
        if rng.uniform() > 0.1
    ]
    rng.shuffle(lines)
    path = _write(tmp_path, lines)
    _same_as_reference(path)
    (panel,) = csvio.read_panels_csv(path)
    obs = {(o.series, o.day): o.value for o in csvio.read_metrics_csv(path, property="csv")}
    for i, series in enumerate(panel.series):
        for j, day in enumerate(panel.dates):
            assert obs.get((series, day), np.nan) == pytest.approx(panel.values[i, j], nan_ok=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2025-03-02,total,clicks,-4", "m.csv:3: clicks is a count and cannot be negative, got -4"),
        ("2025-03-01,total,clicks,9", "m.csv:3: duplicate row for 2025-03-01 total clicks (first at line 2)"),
        ("2025-03-02,total,clicks,nan", "m.csv:3: value 'nan' is not a number"),
        ("2025-03-02,total,clicks,inf", "m.csv:3: value 'inf' is not a number"),
        ("2025-03-02,total,clicks,", "m.csv:3: value '' is not a number"),
        ("2025-03-02,total,clicks,1,2", "m.csv:3: expected 4 fields (date,series,metric,value), got 5"),
        ("2025-02-30,total,clicks,1", "m.csv:3: date '2025-02-30' is not YYYY-MM-DD"),
        ("2025-3-02,total,clicks,1", "m.csv:3: date '2025-3-02' is not YYYY-MM-DD"),
    ],
)
def test_clean_looking_files_with_one_bad_row_name_its_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, ["2025-03-01,total,clicks,5", line])
    with pytest.raises(InputError) as err:
        csvio.read_panels_csv(path)
    assert str(err.value) == message


def test_the_line_counts_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        'date,series,metric,value\n2025-03-01,"query:two\nlines",clicks,1\n\n2025-03-02,total,clicks,-1\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"^m\.csv:5: clicks is a count and cannot be negative, got -1$"):
        read_columns(path)


def test_a_binary_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError) as err:
        csvio.read_panels_csv(path)
    assert str(err.value).startswith("photo.csv:1: not a CSV text file")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("dåte,series,metric,value\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"^latin\.csv:1: not UTF-8 text"):
        read_columns(latin)


def test_a_window_keeps_only_recent_rows_and_still_reports_bad_dates(tmp_path: Path) -> None:
    lines = [f"{(D + timedelta(days=n)).isoformat()},total,sessions,{n}" for n in range(40)]
    path = _write(tmp_path, lines)
    cols = read_columns(path, since=D + timedelta(days=30))
    assert cols.newest() == D + timedelta(days=39)
    assert _rows(cols)[0][0] == (D + timedelta(days=30)).isoformat()
    assert len(cols) == 10
    lines[3] = "2025-13-04,total,sessions,3"
    with pytest.raises(InputError, match=r"^m\.csv:5: date '2025-13-04' is not YYYY-MM-DD$"):
        read_columns(_write(tmp_path, lines), since=D + timedelta(days=30))


def test_the_newest_date_hint_reads_the_tail_of_a_big_file(tmp_path: Path) -> None:
    lines = [f"{(D + timedelta(days=n // 2000)).isoformat()},page:/p{n},sessions,{n}" for n in range(8_000)]
    path = _write(tmp_path, lines)
    assert newest_date_hint(path) == D + timedelta(days=3)
    assert newest_date_hint(_write(tmp_path, lines[:3], name="small.csv")) is None  # read whole anyway


def test_parquet_with_the_four_columns_reads_like_the_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lines = [
        f"{(D + timedelta(days=n)).isoformat()},page:/p{s},sessions,{rng.poisson(30)}"
        for n in range(25)
        for s in range(9)
    ]
    path = _write(tmp_path, lines)
    frame = pl.read_csv(path, schema_overrides={"date": pl.Date})
    frame.with_columns(extra=pl.lit(1)).select("extra", "value", "metric", "series", "date").write_parquet(
        tmp_path / "m.parquet"
    )
    from_csv, from_parquet = csvio.read_panels_csv(path), csvio.read_panels_csv(tmp_path / "m.parquet")
    assert [p.series for p in from_parquet] == [p.series for p in from_csv]
    np.testing.assert_array_equal(from_parquet[0].values, from_csv[0].values)


def test_parquet_mistakes_name_the_row(tmp_path: Path) -> None:
    good = {"date": [D, D + timedelta(days=1)], "series": ["total", "total"], "metric": ["clicks"] * 2}
    pl.DataFrame({**good, "value": [1.0, -2.0]}).write_parquet(tmp_path / "neg.parquet")
    with pytest.raises(InputError, match=r"^neg\.parquet:2: clicks is a count and cannot be negative, got -2$"):
        read_columns(tmp_path / "neg.parquet")
    pl.DataFrame({**good, "value": [1.0, 1.0]}).with_columns(pl.lit(D).alias("date")).write_parquet(
        tmp_path / "dup.parquet"
    )
    with pytest.raises(
        InputError, match=r"^dup\.parquet:2: duplicate row for 2025-03-01 total clicks \(first at row 1\)"
    ):
        csvio.read_panels_csv(tmp_path / "dup.parquet")
    pl.DataFrame({"day": [D], "series": ["total"]}).write_parquet(tmp_path / "cols.parquet")
    with pytest.raises(
        InputError, match=r"^cols\.parquet: expected columns 'date,series,metric,value', got 'day,series'"
    ):
        read_columns(tmp_path / "cols.parquet")


def test_the_header_api_for_other_readers(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("\ufeffdatetime, series,metric,value\r\n", encoding="utf-8")
    assert read_header(path) == ("datetime", "series", "metric", "value")
    with pytest.raises(InputError) as err:
        check_header(path, read_header(path))
    assert str(err.value) == "h.csv:1: expected header 'date,series,metric,value', got 'datetime,series,metric,value'"
    assert "\n" not in str(err.value)


def test_panels_of_several_metrics_keep_their_own_series(tmp_path: Path) -> None:
    lines = [f"2025-03-0{n},total,sessions,{n}" for n in range(1, 4)] + ["2025-03-02,page:/a,clicks,2"]
    panels = {p.metric: p for p in to_panels(read_columns(_write(tmp_path, lines)), property="p")}
    assert panels["sessions"].series == ("total",)
    assert panels["clicks"].series == ("page:/a",)
    assert panels["clicks"].dates == panels["sessions"].dates
    assert np.isnan(panels["clicks"].values[0, 0])


def test_categorical_codes_always_name_their_rows_even_with_a_gap_in_the_numbering() -> None:
    from jobs.reader.columns import _coded

    dense = pl.Series(["b", "a", "b", "c"]).cast(pl.Categorical(pl.Categories.random()))
    names, codes = _coded(dense)
    assert [names[c] for c in codes.tolist()] == ["b", "a", "b", "c"]
    gappy = (
        pl.Series(["a", "b", "c", "a"])
        .cast(pl.Categorical(pl.Categories.random()))
        .filter(pl.Series([True, False, True, True]))
    )
    names, codes = _coded(gappy)
    assert [names[c] for c in codes.tolist()] == ["a", "c", "a"]
    assert sorted(names) == ["a", "c"]
