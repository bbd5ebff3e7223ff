"""The vectorised CSV reader gives exactly what the row-by-row reader gives, or steps aside."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from jobs import csvio
from jobs.csvfast import parse_plain
from jobs.errors import InputError

D = date(2025, 3, 1)


def _rows(plain_or_cols: object) -> list[tuple[int, str, str, float]]:
    if hasattr(plain_or_cols, "lines"):
        day, s_code, m_code = plain_or_cols.lines()
    else:
        day, s_code, m_code = plain_or_cols.day, plain_or_cols.series_code, plain_or_cols.metric_code  # type: ignore[attr-defined]
    series, metrics, value = plain_or_cols.series, plain_or_cols.metrics, plain_or_cols.value  # type: ignore[attr-defined]
    return sorted(
        zip(
            day.tolist(),
            [series[i] for i in s_code.tolist()],
            [metrics[i] for i in m_code.tolist()],
            value.tolist(),
            strict=True,
        )
    )


def _write(tmp_path: Path, lines: list[str], *, name: str = "m.csv", end: str = "\n") -> Path:
    path = tmp_path / name
    path.write_text("date,series,metric,value\n" + "\n".join(lines) + end, encoding="utf-8")
    return path


def _same_as_exact(path: Path, chunk: int = 1 << 24) -> object:
    fast = parse_plain(path, chunk=chunk)
    assert fast is not None
    assert _rows(fast) == _rows(csvio._parse_exact(path))
    return fast


def test_periodic_files_are_read_exactly_and_recognised_as_periodic(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = ["total", *(f"landingPage:/p{i}" for i in range(40)), "query:schuhe größe 42", "page:/a,b"[:7]]
    lines = []
    for n in range(30):
        day = (D + timedelta(days=n)).isoformat()
        for name in names:
            lines.append(f"{day},{name},sessions,{rng.poisson(300)}")
            lines.append(f"{day},{name},position,{rng.uniform(1, 30):.2f}")
    fast = _same_as_exact(_write(tmp_path, lines), chunk=4096)
    assert fast.period == 2 * len(names)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    ["none", "reordered", "missing", "extra", "renamed", "day twice"],
)
def test_a_later_day_out_of_step_with_the_first_is_still_read_exactly(tmp_path: Path, change: str) -> None:
    names = [f"page:/p{i}" for i in range(30)]
    days = [(D + timedelta(days=n)).isoformat() for n in range(12)]
    layout = {day: list(names) for day in days}
    late = days[-2]
    if change == "reordered":
        layout[late].reverse()
    elif change == "missing":
        layout[late].pop(7)
    elif change == "extra":
        layout[late].append("page:/new")
    elif change == "renamed":
        layout[late][3] = "page:/p3x"
    lines = [f"{day},{name},clicks,{i}" for day in days for i, name in enumerate(layout[day])]
    if change == "day twice":
        lines += [f"{days[0]},page:/zzz,clicks,1"]
    # steps of about 1 kB: the first holds the first day, the later ones are compared with it
    fast = _same_as_exact(_write(tmp_path, lines), chunk=1024)
    assert fast.period == (len(names) if change == "none" else 0)  # type: ignore[attr-defined]


def test_every_number_form_float_reads_is_read_the_same(tmp_path: Path) -> None:
    values = [
        "0", "7", "12345678", "123456789", "-3", "-0", "2.5", "-0.125", ".5", "5.", "0.1", "3.4333333333333336",
        "1e3", "1.5E-2", "  12", "99999999999999999", "000123", "1234567.125",
    ]  # fmt: skip
    lines = [f"{(D + timedelta(days=i)).isoformat()},total,bounceRate,{v}" for i, v in enumerate(values)]
    fast = _same_as_exact(_write(tmp_path, lines))
    assert sorted(fast.value.tolist()) == sorted(float(v) for v in values)  # type: ignore[attr-defined]


def test_shuffled_rows_and_gaps_are_read_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines = [
        f"{(D + timedelta(days=n)).isoformat()},channel:c{s},clicks,{rng.poisson(20)}"
        for n in range(20)
        for s in range(30)
        if rng.uniform() > 0.1
    ]
    rng.shuffle(lines)
    _same_as_exact(_write(tmp_path, lines))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('date,series,metric,value\n2025-03-01,"q:a,b",clicks,1\n', "quotes"),
        ("date,series,metric,value\r\n2025-03-01,total,clicks,1\r\n", "CR line ends"),
        ("date,series,metric,value\n2025-03-01,total,clicks,1\n\n", "a blank line"),
        ("date,series,metric,value\n2025-3-01,total,clicks,1\n", "a short date"),
        ("date,series,metric,value\n2025-02-30,total,clicks,1\n", "no such day"),
        ("date,series,metric,value\n2025-03-01,total,clicks,many\n", "a word for a value"),
        ("date,series,metric,value\n2025-03-01,total,clicks\n", "three fields"),
        ("date,series,metric,value\n2025-03-01,total,clicks,1,2\n", "five fields"),
        ("date,series,metric,value\n2025-03-01,total,clicks,1", "no final newline"),
        ("Date,Series,Metric,Value\n2025-03-01,total,clicks,1\n", "another header"),
        ("date,series,metric,value\n2025-03-01,,clicks,1\n", "an empty series"),
    ],
)
def test_anything_unusual_goes_to_the_exact_reader(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text, encoding="utf-8")
    assert parse_plain(path) is None, why


def test_unusual_but_valid_files_still_read_the_same_through_read_panels(tmp_path: Path) -> None:
    path = _write(tmp_path, ["2025-03-01,total,clicks,1", "2025-03-02,total,clicks,2"], end="")  # no final newline
    (panel,) = csvio.read_panels_csv(path)
    assert panel.values.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2025-03-02,total,clicks,-4", "m.csv:3: clicks is a count and cannot be negative, got -4"),
        ("2025-03-01,total,clicks,9", "m.csv:3: duplicate row for 2025-03-01 total clicks (first at line 2)"),
        ("2025-03-02,total,clicks,nan", "m.csv:3: value 'nan' is not a number"),
    ],
)
def test_clean_looking_files_with_bad_values_are_reported_by_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, ["2025-03-01,total,clicks,5", line])
    with pytest.raises(InputError) as err:
        csvio.read_panels_csv(path)
    assert str(err.value) == message
