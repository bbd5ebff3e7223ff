"""``barometer detect`` on an hourly file (header ``datetime,series,metric,value``), as a user runs it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_cli import barometer

START = datetime(2026, 11, 2)  # a Monday
WEEKS = 5
COLLAPSE = datetime(2026, 12, 7, 9, 0)  # page /a at a fifth from 09:00 on
BREAK = datetime(2026, 12, 7, 9, 0)  # key events stop at 09:00


def _rows(*, until: datetime) -> list[str]:
    """Hourly sessions (total, two pages) and key events (total) up to ``until`` (exclusive)."""
    rng = np.random.default_rng(3)
    rows = []
    hour = START
    while hour < until:
        shape = 0.3 + np.exp(-0.5 * ((hour.hour - 14) / 4.0) ** 2)
        a, b = int(rng.poisson(300 * shape)), int(rng.poisson(200 * shape))
        key = int(rng.poisson(30 * shape))
        if hour >= COLLAPSE:
            a = a // 5
        if hour >= BREAK:
            key = 0
        at = f"{hour:%Y-%m-%dT%H:%M}"
        rows += [
            f"{at},total,sessions,{a + b}",
            f"{at},page:/a,sessions,{a}",
            f"{at},page:/b,sessions,{b}",
            f"{at},total,keyEvents,{key}",
        ]
        hour += timedelta(hours=1)
    return rows


def _csv(tmp_path: Path, rows: list[str], name: str = "h.csv") -> Path:
    path = tmp_path / name
    path.write_text("datetime,series,metric,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _findings(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_the_newest_hour_is_scored_by_default_and_date_holds_the_hour(tmp_path: Path) -> None:
    path = _csv(tmp_path, _rows(until=datetime(2026, 12, 7, 11, 0)))  # through 10:00
    result = barometer("detect", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = _findings(result.stdout)
    assert {f["date"] for f in found} == {"2026-12-07T10:00"}
    by_problem = {(f["series"], f["metric"]): f for f in found}
    assert by_problem[("page:/a", "sessions")]["kind"] == "drop"
    assert by_problem[("page:/a", "sessions")]["direction"] == "down"
    assert by_problem[("total", "keyEvents")]["kind"] == "outage"
    assert ("page:/b", "sessions") not in by_problem
    assert set(found[0]) >= {"series", "metric", "date", "direction", "value", "expected", "lower", "upper", "p_value"}


def test_walk_forward_over_hours_never_looks_ahead(tmp_path: Path) -> None:
    longer = _csv(tmp_path, _rows(until=datetime(2026, 12, 8, 0, 0)), "longer.csv")
    shorter = _csv(tmp_path, _rows(until=datetime(2026, 12, 7, 12, 0)), "shorter.csv")
    window = ("--start", "2026-12-07T06:00", "--end", "2026-12-07T11:00")
    out = tmp_path / "out.jsonl"
    walked = barometer("detect", str(longer), *window, "-o", str(out), cwd=tmp_path)
    assert walked.returncode == 0, walked.stderr
    assert walked.stdout.strip().endswith(f"written to {out}")
    found = _findings(out.read_text())
    first_drop = min(str(f["date"]) for f in found if f["series"] == "page:/a")
    first_break = min(str(f["date"]) for f in found if f["metric"] == "keyEvents")
    assert first_drop == "2026-12-07T10:00"  # two hours at a fifth: 09:00 and 10:00
    assert "2026-12-07T09:00" <= first_break <= "2026-12-07T10:00"
    assert all("2026-12-07T06:00" <= str(f["date"]) <= "2026-12-07T11:00" for f in found)
    assert not [f for f in found if str(f["date"]) < "2026-12-07T09:00"]
    same = barometer("detect", str(shorter), *window, cwd=tmp_path)
    assert _findings(same.stdout) == found  # what came after 11:00 changed nothing


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["2026-12-07,total,sessions,3"], "h.csv:2: '2026-12-07' is a day, not an hour: this file is hourly"),
        (["2026-12-07T10:30,total,sessions,3"], "h.csv:2: datetime '2026-12-07T10:30' is not the start of an hour"),
        (["2026-12-07 10:00,total,sessions,3"], "h.csv:2: datetime '2026-12-07 10:00' is not YYYY-MM-DDTHH:00"),
        (
            ["2026-12-07T10:00,total,sessions,3", "2026-12-07T11:00,total,sessions", "x"],
            "h.csv:3: expected 4 fields (datetime,series,metric,value), got 3",
        ),
        (["2026-12-07T10:00,total,sessions,many"], "h.csv:2: value 'many' is not a number"),
        (
            ["2026-12-07T10:00,total,clicks,3", "2026-12-07T11:00,total,clicks,3", "2026-12-07T10:00,total,clicks,4"],
            "h.csv:4: duplicate row for 2026-12-07T10:00 total clicks (first at line 2)",
        ),
    ],
)
def test_bad_or_mixed_granularity_is_one_line_naming_the_place(tmp_path: Path, rows: list[str], message: str) -> None:
    result = barometer("detect", str(_csv(tmp_path, rows)), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_bad_start_is_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["2026-12-07T10:00,total,sessions,3"])
    result = barometer("detect", str(path), "--start", "2026-12-07T10", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: --start: datetime '2026-12-07T10' is not YYYY-MM-DDTHH:00\n"
