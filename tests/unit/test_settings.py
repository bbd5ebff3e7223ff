"""Settings: the shipped example loads and documents every key; env wins over the file;
every bad input is one line naming the file and the key."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import BaseModel

from worker.settings import ConfigError, Settings, load_settings, secret

EXAMPLE = Path(__file__).resolve().parents[2] / "barometer.example.toml"

_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*$")
_KEY = re.compile(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


@dataclass
class _Block:
    table: str
    keys: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)


def _blocks(text: str) -> list[_Block]:
    """The example's tables in order, with the keys each sets or shows commented out."""
    blocks = [_Block("")]
    comment_above = False
    for raw in text.splitlines():
        line = raw.strip()
        if header := _HEADER.match(line):
            blocks.append(_Block(header[1]))
            comment_above = False
        elif key := _KEY.match(line):
            blocks[-1].keys.append(key[2])
            if not comment_above:
                blocks[-1].undocumented.append(key[2])
            comment_above = key[1] is not None  # a commented-out key counts as its own comment
        else:
            comment_above = line.startswith("#")
    return blocks


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model a field holds directly or as ``tuple[Model, ...]`` / ``dict[str, Model]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (tuple, dict, types.UnionType, typing.Union):
        for arg in args:
            if (model := _model_of(arg)) is not None:
                return model
    return None


def _expected_tables(model: type[BaseModel], prefix: str = "") -> dict[str, set[str]]:
    """Table name -> the keys it must show; dict-of-model fields are tables ending in ``.*``."""
    tables: dict[str, set[str]] = {prefix: set()}
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        if sub is None:
            tables[prefix].add(name)
        elif typing.get_origin(info.annotation) is dict:
            tables[f"{prefix}.{name}.*"] = set()  # keys are those of the parent table
        else:
            tables.update(_expected_tables(sub, f"{prefix}.{name}" if prefix else name))
    return tables


def test_example_loads_as_documented() -> None:
    settings = load_settings(EXAMPLE)

    assert [(p.name, p.source) for p in settings.properties] == [
        ("shop", "ga4"),
        ("shop-search", "gsc"),
        ("demo", "demo"),
    ]
    assert [s.name for s in settings.subscriptions] == ["marketing", "demo"]
    assert settings.smtp.port == 587
    params = settings.detection.params()
    assert params.for_metric("keyEvents").direction == "down"
    assert params.for_metric("keyEvents").min_change_abs == 5.0
    assert params.for_metric("sessions").direction == "both"


def test_example_shows_and_comments_every_key_of_every_section() -> None:
    blocks = _blocks(EXAMPLE.read_text(encoding="utf-8"))
    expected = _expected_tables(Settings)
    assert expected[""] == set(), "Settings has a top-level scalar the example cannot show"
    missing: list[str] = []
    for table, keys in expected.items():
        if not table:
            continue
        pattern = re.compile(re.escape(table).replace(r"\*", r"[^.]+") + "$")
        mine = [b for b in blocks if pattern.fullmatch(b.table)]
        if not mine:
            missing.append(f"[{table}]")
            continue
        shown = {k for b in mine for k in b.keys}
        missing += [f"{table}.{k}" for k in sorted(keys - shown)]
        # The first block of a table documents its keys; later array entries may be terse.
        missing += [f"{table}.{k} (no comment)" for k in mine[0].undocumented]
    assert missing == []


def test_the_walk_sees_nested_sections() -> None:
    expected = _expected_tables(Settings)
    assert {"storage", "smtp", "detection", "detection.metrics.*", "accounts", "properties", "subscriptions"} <= set(
        expected
    )
    assert {"password_env", "port", "starttls"} <= expected["smtp"]
    assert {"slack_webhook_env", "digest_at", "quiet_digest"} <= expected["subscriptions"]
    assert "metrics" not in expected["detection"]
    assert "metrics" in expected["properties"]


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://barometer@db.internal:5432/barometer"
    monkeypatch.setenv("BAROMETER_SMTP__PORT", "2525")
    monkeypatch.setenv("BAROMETER_STORAGE__DATABASE_URL", url)

    settings = load_settings(EXAMPLE)

    assert settings.smtp.port == 2525
    assert settings.storage.database_url == url
    assert settings.smtp.sender == "barometer@example.com"  # the rest of [smtp] still from the file
    assert [p.name for p in settings.properties] == ["shop", "shop-search", "demo"]


def test_config_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAROMETER_CONFIG", str(EXAMPLE))
    assert [s.name for s in load_settings().subscriptions] == ["marketing", "demo"]


def test_missing_default_file_means_defaults() -> None:
    settings = load_settings()  # cwd is an empty temp dir: no ./barometer.toml
    assert settings.storage.database_url == "sqlite:///barometer.db"
    assert settings.properties == ()


def test_missing_explicit_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(missing)
    assert str(info.value) == f"{missing}: no such configuration file"

    monkeypatch.setenv("BAROMETER_CONFIG", str(missing))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"{missing}: no such configuration file"


DEMO = '[[properties]]\nname = "demo"\nsource = "demo"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[detection]\nsensitivty = 0.05\n", "detection.sensitivty: unknown key", id="unknown-key"),
        pytest.param('[smpt]\nhost = "x"\n', "smpt: unknown key", id="unknown-section"),
        pytest.param(
            '[detection.metrics.keyEvents]\ndirecton = "down"\n',
            "detection.metrics.keyEvents.directon: unknown key",
            id="unknown-nested-key",
        ),
        pytest.param(
            '[detection]\ndirection = "sideways"\n',
            "detection.direction: Input should be 'both', 'up' or 'down' (got 'sideways')",
            id="bad-enum",
        ),
        pytest.param(
            DEMO + '[[subscriptions]]\nname = "m"\nproperties = ["demo"]\nmin_severity = "urgent"\n',
            "subscriptions[0].min_severity: Input should be 'low', 'medium', 'high' or 'critical' (got 'urgent')",
            id="bad-severity",
        ),
        pytest.param(
            DEMO + '[[subscriptions]]\nname = "m"\nproperties = ["demo"]\ndigest_at = "8am"\n',
            "subscriptions[0].digest_at: expected HH:MM in 24-hour time, got '8am'",
            id="bad-hhmm",
        ),
        pytest.param(
            DEMO + '[[subscriptions]]\nname = "m"\nproperties = ["demo"]\ndigest_at = "24:00"\n',
            "subscriptions[0].digest_at: expected HH:MM in 24-hour time, got '24:00'",
            id="hour-24",
        ),
        pytest.param(
            DEMO + '[[subscriptions]]\nname = "m"\nproperties = ["shop"]\n',
            "subscriptions[0].properties: 'shop' is not one of the [[properties]] names ['demo']",
            id="unknown-property",
        ),
        pytest.param(
            '[[accounts]]\nname = "agency"\n'
            '[[properties]]\nname = "shop"\nsource = "ga4"\nid = "properties/1"\naccount = "agnecy"\n',
            "properties[0].account: 'agnecy' is not one of the [[accounts]] names ['agency']",
            id="unknown-account",
        ),
        pytest.param(
            "[smtp]\nport = 70000\n",
            "smtp.port: Input should be less than or equal to 65535 (got 70000)",
            id="port-range",
        ),
        pytest.param(
            DEMO + '[[subscriptions]]\nname = "m"\nproperties = ["demo"]\nemail = ["not-an-address"]\n',
            "subscriptions[0].email: 'not-an-address' is not an email address",
            id="bad-email",
        ),
        pytest.param(
            '[smtp]\nport = 587\nhost = "mail\n',
            "not valid TOML: Illegal character '\\n' (at line 3, column 13)",
            id="invalid-toml",
        ),
    ],
)
def test_bad_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: {message}"


def test_bad_timezone_names_key_and_value_once(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(DEMO + 'timezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}: properties[0].timezone: unknown timezone 'Mars/Olympus' (use an IANA name such as 'Europe/Berlin')"
    )


def test_a_property_country_names_its_holidays_for_detection(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(DEMO + 'country = "de"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.properties[0].country == "DE"
    assert settings.detection_params().countries == {settings.properties[0].name: "DE"}


def test_an_unknown_country_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(DEMO + 'country = "Atlantis"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}: properties[0].country: unknown country 'Atlantis' (use an ISO 3166 code such as 'DE' or 'US')"
    )


def test_bad_timezone_is_rejected_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text(DEMO + 'timezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: properties[0].timezone: unknown timezone 'Mars/Olympus' ")


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAROMETER_SMTP__PORT", "many")
    with pytest.raises(ConfigError) as info:
        load_settings(EXAMPLE)
    assert str(info.value) == (
        "BAROMETER_SMTP__PORT: Input should be a valid integer, unable to parse string as an integer (got 'many')"
    )


def test_a_bad_variable_and_a_bad_key_are_each_named_where_they_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "barometer.toml"
    path.write_text("[smtp]\ntimeout_seconds = -1\n")
    monkeypatch.setenv("barometer_smtp__port", "70000")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        "barometer_smtp__port: Input should be less than or equal to 65535 (got '70000'); "
        f"{path}: smtp.timeout_seconds: Input should be greater than 0 (got -1)"
    )


def test_secret_reads_the_named_variable_and_hides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAROMETER_TEST_SECRET", raising=False)
    assert secret("BAROMETER_TEST_SECRET") is None
    assert secret("") is None
    monkeypatch.setenv("BAROMETER_TEST_SECRET", "")
    assert secret("BAROMETER_TEST_SECRET") is None

    monkeypatch.setenv("BAROMETER_TEST_SECRET", "hunter2-xyz")
    value = secret("BAROMETER_TEST_SECRET")

    assert value is not None
    assert value.get_secret_value() == "hunter2-xyz"
    assert "hunter2" not in repr(value)
    assert "hunter2" not in str(value)
    assert "hunter2" not in f"{value}"
