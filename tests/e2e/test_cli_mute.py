"""``barometer mute`` / ``unmute`` as a user runs them, and a digest that respects the mute."""

from __future__ import annotations

import email
import email.policy
import subprocess
from pathlib import Path

from tests.e2e.test_cli import CONFIG, barometer


def _env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "barometer.toml"
    config.write_text(CONFIG.format(db=tmp_path / "b.db", outbox=tmp_path / "outbox"))
    return {"BAROMETER_CONFIG": str(config)}


def _one_error_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert (result.returncode, result.stderr) == (1, f"error: {expected}\n")


def test_mute_list_and_unmute(tmp_path: Path) -> None:
    env = _env(tmp_path)
    muted = barometer("mute", "shop/keyEvents", "--for", "7d", "--reason", "tag migration", cwd=tmp_path, env=env)
    assert muted.returncode == 0, muted.stderr
    assert muted.stdout.startswith("muted 1: shop/keyEvents until ")
    assert muted.stdout.rstrip().endswith("UTC (all subscriptions) — tag migration")
    scoped = barometer(
        "mute", "shop/*/landingPage:/blog*", "--until", "2099-01-01", "--subscription", "team", cwd=tmp_path, env=env
    )
    assert scoped.stdout == "muted 2: shop/*/landingPage:/blog* until 2099-01-01 00:00 UTC (team)\n"

    listed = barometer("mute", "list", cwd=tmp_path, env=env)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "PATTERN", "SUBSCRIPTION", "UNTIL", "(UTC)", "STATE", "REASON"]
    assert lines[1].split()[:3] == ["1", "shop/keyEvents", "*"]
    assert lines[1].endswith("active  tag migration")
    assert lines[2].split() == ["2", "shop/*/landingPage:/blog*", "team", "2099-01-01", "00:00", "active", "-"]

    assert barometer("unmute", "1", cwd=tmp_path, env=env).stdout == "unmuted 1: shop/keyEvents\n"
    assert len(barometer("mute", "list", cwd=tmp_path, env=env).stdout.splitlines()) == 2
    assert "removed" in barometer("mute", "list", "--all", cwd=tmp_path, env=env).stdout
    again = barometer("unmute", "1", cwd=tmp_path, env=env)
    assert again.returncode == 1
    assert again.stderr.startswith("error: mute 1 (shop/keyEvents) already ended at ")
    assert again.stderr.count("\n") == 1


def test_bad_input_is_one_line_naming_the_option(tmp_path: Path) -> None:
    env = _env(tmp_path)
    cases = {
        ("mute", "shpo", "--for", "1d"): "mute pattern 'shpo': 'shpo' matches no configured property "
        "(configured: imported, shop)",
        ("mute", "shop", "--for", "7x"): "--for: '7x' is not a duration such as 30m, 12h, 7d, 2w or 1d12h",
        ("mute", "shop"): "mute: give exactly one of --for DURATION or --until DATE",
        ("mute", "shop", "--until", "2020-01-01"): "--until: 2020-01-01 00:00 UTC is not in the future",
        ("mute", "shop", "--until", "next week"): "--until: 'next week' is not a date (YYYY-MM-DD) or an ISO 8601 time",
        ("mute", "shop", "--for", "1d", "--subscription", "nope"): "no subscription named 'nope'",
        ("mute", "shop//x", "--for", "1d"): "mute pattern 'shop//x': the metric part after the first '/' is empty "
        "(use '*')",
        ("unmute", "99"): "no mute with id 99 (see `barometer mute list`)",
    }
    for args, expected in cases.items():
        _one_error_line(barometer(*args, cwd=tmp_path, env=env), expected)
    for command in (["mute"], ["unmute"]):
        assert "Usage:" in barometer(*command, "--help", cwd=tmp_path).stdout


def test_a_muted_tracking_break_is_held_back_in_the_digest(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert (
        barometer(
            "mute", "shop/keyEvents", "--for", "2d", "--reason", "tag migration", cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    run = barometer("run", "--property", "shop", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    eml = next((tmp_path / "outbox").glob("*team@example.com.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "key events" not in message["Subject"].lower()
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Still ongoing:" in text
    assert "- Key events tracking stopped: muted until " in text
    assert "UTC (tag migration)" in text
    assert "mute 1" not in text  # no internal ids in a message
