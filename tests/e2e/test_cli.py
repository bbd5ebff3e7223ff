"""The ``barometer`` command as a user runs it: a real process, real files, real SQLite."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BAROMETER = str(Path(sys.executable).with_name("barometer"))


def barometer(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")} | (env or {})
    return subprocess.run(
        [BAROMETER, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=240, check=False
    )


CONFIG = """
[storage]
database_url = "sqlite:///{db}"
[outbox]
dir = "{outbox}"
[[properties]]
name = "imported"
source = "csv"
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
[[subscriptions]]
name = "team"
properties = ["shop"]
email = ["team@example.com"]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "barometer.toml"
    path.write_text(CONFIG.format(db=tmp_path / "b.db", outbox=tmp_path / "outbox"))
    return path


def test_demo_writes_a_readable_digest_with_one_chart_per_finding(tmp_path: Path) -> None:
    result = barometer("demo", "--outbox", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    emls = sorted((tmp_path / "out").glob("*.eml"))
    slack = sorted((tmp_path / "out").glob("*.slack.json"))
    assert len(emls) == 1
    assert len(slack) == 1
    assert str(emls[0].name) in result.stdout

    message = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "marketing@example.com"
    assert "changes on shop, shop-search" in message["Subject"]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    charts = [p for p in message.walk() if p.get_content_type() == "image/png"]
    findings = html.count("cid:")
    assert findings >= 4
    assert len(charts) == findings
    assert all(bytes(p.get_payload(decode=True))[:8] == b"\x89PNG\r\n\x1a\n" for p in charts)
    # The injected changes: a tracking break, a site-wide drop led by one channel, a deindexed page.
    assert "1. Key events tracking stopped [critical, tracking stopped]" in text
    assert "Tracking stopped for: key events, conversion rate" in text
    assert "Mostly from the Organic Search channel" in text
    assert "Impressions on /guides/sizing fell" in text
    # the CTR drop on /shoes/running leads its own incident: past the five told in full it is
    # one line here, and told whole (the CTR that drove the clicks) in the full list
    assert re.search(r"- Clicks on /shoes/running fell \d+% \(expected about \d+, got \d+\)", text)
    [full] = (tmp_path / "out").glob("*.all.html")
    page = full.read_text(encoding="utf-8")
    assert re.search(r"Clicks on /shoes/running fell \d+%", page)
    assert re.search(r"Because of a lower CTR \([\d.]+% instead of about [\d.]+%\)", page)
    assert f"All 6 changes in full: {full.absolute().as_uri()}" in text
    assert "barometer feedback" not in text
    assert "barometer feedback" not in html

    payload = json.loads(slack[0].read_text())
    assert payload["blocks"]
    assert payload["unfurl_links"] is False
    contexts = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Tracking stopped for: key events, conversion rate" in contexts

    # A second demo starts from a fresh database and writes the digest again.
    again = barometer("demo", "--outbox", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1


def test_run_delivers_once_and_a_rerun_sends_nothing(tmp_path: Path, config: Path) -> None:
    env = {"BAROMETER_CONFIG": str(config)}
    first = barometer("run", "--property", "shop", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "team: digest 1: 1 sent, 0 pending, 0 failed" in first.stdout
    eml = next((tmp_path / "outbox").glob("*team@example.com.eml"))
    written = eml.stat().st_mtime_ns

    second = barometer("run", "--property", "shop", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "team: digest 1: 1 sent, 0 pending, 0 failed" in second.stdout
    assert eml.stat().st_mtime_ns == written


def test_import_export_round_trip_and_detect(tmp_path: Path, config: Path) -> None:
    env = {"BAROMETER_CONFIG": str(config)}
    rows = ["date,series,metric,value"]
    for day in range(1, 29):
        rows.append(f"2026-02-{day:02d},total,sessions,{100 + (day % 7) * 3}")
    rows.append("2026-03-01,total,sessions,5")
    source = tmp_path / "in.csv"
    source.write_text("\n".join(rows) + "\n")

    imported = barometer("import", str(source), "--property", "imported", cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 29 points" in imported.stdout
    exported = barometer("export", "--property", "imported", "-o", "out.csv", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out.csv").read_text() == source.read_text()

    detected = barometer("detect", str(source), cwd=tmp_path, env=env)
    assert detected.returncode == 0, detected.stderr
    (line,) = detected.stdout.splitlines()
    finding = json.loads(line)
    assert finding["date"] == "2026-03-01"
    assert finding["series"] == "total"
    assert finding["direction"] == "down"
    assert finding["value"] == 5


def test_bad_csv_is_one_line_and_stores_nothing(tmp_path: Path, config: Path) -> None:
    env = {"BAROMETER_CONFIG": str(config)}
    bad = tmp_path / "bad.csv"
    bad.write_text("date,series,metric,value\n2026-02-01,total,sessions,10\n2026-02-02,total,sessions,ten\n")
    result = barometer("import", str(bad), "--property", "imported", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ")
    assert "bad.csv:3" in result.stderr
    empty = barometer("export", "--property", "imported", cwd=tmp_path, env=env)
    assert empty.returncode == 1
    assert "no stored data" in empty.stderr


def test_config_check_names_the_bad_key(tmp_path: Path, config: Path) -> None:
    ok = barometer("config", "check", cwd=tmp_path, env={"BAROMETER_CONFIG": str(config)})
    assert ok.returncode == 0, ok.stderr
    assert "ok (2 properties, 1 subscriptions, 0 accounts)" in ok.stdout

    config.write_text(config.read_text().replace('digest_at = "08:00"\n', "") + 'digest_at = "8am"\n')
    bad = barometer("config", "check", cwd=tmp_path, env={"BAROMETER_CONFIG": str(config)})
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f"error: {config}: subscriptions[0].digest_at: expected HH:MM in 24-hour time, got '8am'"
    )


def test_bad_date_option_is_one_line(tmp_path: Path, config: Path) -> None:
    result = barometer("run", "--date", "2026-13-01", cwd=tmp_path, env={"BAROMETER_CONFIG": str(config)})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --date: '2026-13-01' is not a date in YYYY-MM-DD form"


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (["demo"], ["run"], ["fetch"], ["import"], ["export"], ["detect"], ["config", "check"]):
        result = barometer(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage:" in result.stdout
