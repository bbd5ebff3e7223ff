"""configure_logging: what ops read on stderr (JSON lines in containers, plain text on terminals)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from worker.observability import Scrubber, configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_lines_carry_core_and_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", json=True)

    logging.getLogger("barometer.pipeline").info(
        "fetched %d rows for %s", 42, "shop", extra={"property": "shop", "rows": 42, "day": object}
    )

    (line,) = _lines(capsys)
    record = json.loads(line)
    assert record["ts"].endswith("+00:00")
    assert {k: v for k, v in record.items() if k != "ts"} == {
        "level": "INFO",
        "logger": "barometer.pipeline",
        "message": "fetched 42 rows for shop",
        "property": "shop",
        "rows": 42,
        "day": "<class 'object'>",
    }


def test_json_line_includes_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("barometer.x").exception("delivery %s failed", "d-1")

    (line,) = _lines(capsys)
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["message"] == "delivery d-1 failed"
    assert record["exc_info"].startswith("Traceback (most recent call last):")
    assert record["exc_info"].endswith("KeyError: 'missing'")


def test_level_filters_and_plain_format_for_terminals(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING")

    logging.getLogger("barometer.x").info("hidden")
    logging.getLogger("barometer.x").warning("shown %s", "here")

    (line,) = _lines(capsys)
    assert line.endswith(" WARNING  barometer.x: shown here")


def test_calling_twice_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    configure_logging(json=False)
    configure_logging(json=True)

    logging.getLogger("barometer.x").warning("once")

    (line,) = _lines(capsys)
    assert json.loads(line)["message"] == "once"


def test_unknown_level_is_named() -> None:
    with pytest.raises(ValueError) as info:
        configure_logging(level="LOUD")
    assert str(info.value) == "unknown log level 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("post to https://hooks.slack.com/services/T1/B2/xyz failed", "post to [Filtered] failed"),
        ("redis://:s3cret@redis:6379/0", "redis://:[Filtered]@redis:6379/0"),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer [Filtered]"),
        ('{"api_key": "k-123"}', '{"api_key": "[Filtered]"}'),
        ("smtp_password=p4ss user=ops", "smtp_password=[Filtered] user=ops"),
        ("the literal hunter2-long appears", "the literal [Filtered] appears"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_scrubber_text(text: str, expected: str) -> None:
    assert Scrubber(secrets=["hunter2-long", ""]).text(text) == expected
