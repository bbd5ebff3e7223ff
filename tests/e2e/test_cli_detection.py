"""``barometer detect``, ``feedback`` and ``backtest`` as a user runs them: real processes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_cli import barometer

START = date(2026, 1, 1)


def _csv(tmp_path: Path, rows: list[str], name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text("date,series,metric,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _history(days: int = 70) -> list[str]:
    rng = np.random.default_rng(1)
    rows = []
    for n in range(days):
        day = (START + timedelta(days=n)).isoformat()
        a, b = int(rng.poisson(400)), int(rng.poisson(250))
        if n == days - 1:
            a = 60  # page a collapses on the last day
        rows += [f"{day},total,sessions,{a + b}", f"{day},page:/a,sessions,{a}", f"{day},page:/b,sessions,{b}"]
    return rows


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["2026-01-01,total,sessions"], "m.csv:2: expected 4 fields (date,series,metric,value), got 3"),
        (["2026-01-01,total,sessions,12", "2026-01-02,total,sessions,lots"], "m.csv:3: value 'lots' is not a number"),
        (["2026-01-01,total,clicks,-3"], "m.csv:2: clicks is a count and cannot be negative, got -3"),
        (
            ["2026-01-01,total,clicks,3", "2026-01-01,total,clicks,4"],
            "m.csv:3: duplicate row for 2026-01-01 total clicks (first at line 2)",
        ),
        (["01/02/2026,total,clicks,3"], "m.csv:2: date '01/02/2026' is not YYYY-MM-DD"),
    ],
)
def test_bad_rows_are_one_line_naming_the_place(tmp_path: Path, rows: list[str], message: str) -> None:
    result = barometer("detect", str(_csv(tmp_path, rows)), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


def test_a_wrong_header_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("day,page,metric,value\n2026-01-01,total,clicks,3\n")
    result = barometer("detect", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: m.csv:1: expected header 'date,series,metric,value', got 'day,page,metric,value'\n"


def test_detect_walks_forward_and_skips_series_too_short_to_judge(tmp_path: Path) -> None:
    rows = _history()
    rows += [f"2026-03-{d:02d},page:/new,sessions,{d * 40}" for d in (10, 11)]  # two days of history only
    path = _csv(tmp_path, rows)
    result = barometer(
        "detect", str(path), "--start", "2026-03-09", "--end", "2026-03-11", "-o", "out.jsonl", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "note: 1 of 4 series x metric in m.csv have fewer than 3 whole weeks of history before 2026-03-11 "
        "and were not scored\n"
    )
    assert result.stdout == "2 finding(s) written to out.jsonl\n"
    found = {f["series"]: f for f in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    # the total dropped because page a collapsed (a far bigger fall than the total's: its own finding)
    assert sorted(found) == ["page:/a", "total"]
    assert {(f["date"], f["direction"]) for f in found.values()} == {("2026-03-11", "down")}
    assert found["total"]["kind"] == "drop"
    assert "q_value" in found["page:/a"]

    backwards = barometer("detect", str(path), "--start", "2026-03-11", "--end", "2026-03-01", cwd=tmp_path)
    assert backwards.returncode == 1
    assert backwards.stderr == "error: --start 2026-03-11 is after --end 2026-03-01\n"
    missing = barometer("detect", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert missing.stderr.count("\n") == 1


def test_parquet_and_a_long_history_detect_like_the_window_the_daily_run_loads(tmp_path: Path) -> None:
    import polars as pl

    rows = _history(200)
    whole = _csv(tmp_path, rows, "whole.csv")
    last = START + timedelta(days=199)
    window = [r for r in rows if r[:10] >= (last - timedelta(days=70)).isoformat()]  # jobs.window.history_days
    pl.read_csv(whole, schema_overrides={"date": pl.Date}).write_parquet(tmp_path / "whole.parquet")
    outputs = []
    for name in (str(whole), str(_csv(tmp_path, window, "window.csv")), str(tmp_path / "whole.parquet")):
        result = barometer("detect", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert json.loads(outputs[0].splitlines()[0])["date"] == last.isoformat()


CONFIG = """
[storage]
database_url = "sqlite:///{db}"
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
"""


def test_feedback_and_backtest_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "barometer.toml"
    config.write_text(CONFIG.format(db=tmp_path / "b.db"))
    env = {"BAROMETER_CONFIG": str(config)}
    assert barometer("db", "upgrade", cwd=tmp_path, env=env).returncode == 0

    nothing = barometer("backtest", "--property", "shop", cwd=tmp_path, env=env)
    assert nothing.returncode == 1
    assert nothing.stderr == "error: property 'shop' has no stored data yet (run `barometer fetch` or `import`)\n"

    unknown = barometer("feedback", "7", "--label", "expected", cwd=tmp_path, env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: finding 7 does not exist")
    assert unknown.stderr.count("\n") == 1
    wrong = barometer("feedback", "7", "--label", "maybe", cwd=tmp_path, env=env)
    assert wrong.returncode == 2
    assert "'maybe' is not one of 'expected', 'false_alarm', 'confirmed'" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    ran = barometer("run", "--property", "shop", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    labelled = barometer("feedback", "1", "--label", "false_alarm", "--note", "known", cwd=tmp_path, env=env)
    assert labelled.returncode == 0, labelled.stderr
    assert labelled.stdout.startswith("finding 1 (shop ")
    assert labelled.stdout.endswith(" labelled false_alarm\n")

    replay = barometer("backtest", "--property", "shop", "--days", "14", "-o", "weeks.png", cwd=tmp_path, env=env)
    assert replay.returncode == 0, replay.stderr
    lines = replay.stdout.splitlines()
    assert lines[0].startswith("shop: backtest ")
    assert lines[1] == "labelled in this window: 1 (1 false alarm(s), 1 still firing)"
    # the false alarm taught its series a stricter bar, shown with its cause
    assert lines[2].startswith("learned: "), lines[2]
    assert lines[2].endswith(" (1 false alarm(s), 0 confirmed)"), lines[2]
    assert lines[3].split()[:3] == ["week", "metric", "findings"]
    assert lines[-1] == "chart written to weeks.png"
    assert (tmp_path / "weeks.png").read_bytes()[:4] == b"\x89PNG"


def test_new_commands_have_help(tmp_path: Path) -> None:
    for command in ("feedback", "backtest"):
        result = barometer(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_a_conversion_rate_is_a_proportion_of_its_sessions(tmp_path: Path) -> None:
    # GA4's sessionKeyEventRate next to sessions: scored as a binomial share of the day's
    # sessions. The rate halves on the last day while sessions hold: a rate change, shown
    # with its interval in the rate's own unit (a fraction).
    rng = np.random.default_rng(4)
    rows = []
    for n in range(70):
        day = (START + timedelta(days=n)).isoformat()
        sessions = int(rng.poisson(3000))
        rate = 0.04 * (0.5 if n == 69 else 1.0)
        events = int(rng.binomial(sessions, rate))
        rows += [f"{day},total,sessions,{sessions}", f"{day},total,sessionKeyEventRate,{events / sessions:.6f}"]
    result = barometer("detect", str(_csv(tmp_path, rows)), "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(f["metric"], f["kind"], f["direction"]) for f in found] == [("sessionKeyEventRate", "rate_change", "down")]
    assert found[0]["lower"] < 0.04 < found[0]["upper"] < 0.05
    assert found[0]["p_value"] < 1e-5


def test_detect_knows_the_country_holidays_asked_for(tmp_path: Path) -> None:
    # a German shop whose sessions halve on Whit Monday (2026-05-25), a public holiday there
    rng = np.random.default_rng(3)
    first, holiday = date(2026, 3, 1), date(2026, 5, 25)
    rows = []
    for n in range((holiday - first).days + 1):
        day = first + timedelta(days=n)
        value = int(rng.poisson(2000)) // (2 if day == holiday else 1)
        rows.append(f"{day.isoformat()},total,sessions,{value}")
    path = _csv(tmp_path, rows)
    plain = barometer("detect", str(path), cwd=tmp_path)
    assert [json.loads(line)["severity"] for line in plain.stdout.splitlines()] == ["high"]
    german = barometer("detect", str(path), "--country", "DE", cwd=tmp_path)
    assert german.returncode == 0, german.stderr
    assert [json.loads(line)["severity"] for line in german.stdout.splitlines()] in ([], ["low"])
    wrong = barometer("detect", str(path), "--country", "Atlantis", cwd=tmp_path)
    assert wrong.returncode == 1
    assert wrong.stderr == "error: --country: unknown country 'Atlantis' (use an ISO 3166 code such as 'DE' or 'US')\n"
