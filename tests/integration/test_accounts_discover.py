"""``barometer properties discover``: GA4 properties (Admin API) and Search Console sites an
account can read, printed as TOML that pastes into barometer.toml and passes config check."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.google import google_error
from tests.fakes.google_world import GoogleWorld

BAROMETER = str(Path(sys.executable).with_name("barometer"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GoogleWorld]:
    with GoogleWorld(tmp_path) as fakes:
        yield fakes


def _barometer(world: GoogleWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")} | world.env
    env["BAROMETER_CONFIG"] = str(world.root / "barometer.toml")
    return subprocess.run(
        [BAROMETER, *args], cwd=world.root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _sites(world: GoogleWorld) -> None:
    world.gsc.add_site("sc-domain:shop.example")
    world.gsc.add_site("https://blog.shop.example/", permission="siteFullUser")
    world.gsc.add_site("https://unverified.example/", permission="siteUnverifiedUser")


def test_discover_prints_config_that_pastes_and_validates(world: GoogleWorld) -> None:
    world.ga4.add_property("1", display_name="Shop", time_zone="Europe/Berlin")
    world.ga4.add_property("2", display_name='Shop "Staging"', time_zone="America/New_York")
    world.ga4.add_property("3", display_name="Other brand", account="accounts/9", account_name="Other Inc")
    _sites(world)
    existing = {"name": "shop", "source": "ga4", "id": "properties/1", "account": "agency"}
    config = world.write_config(properties=[existing])

    result = _barometer(world, "properties", "discover", "--account", "agency")

    assert result.returncode == 0, result.stderr
    assert "# ga4 properties/1: already configured as 'shop'" in result.stdout
    found = tomllib.loads(result.stdout)["properties"]
    assert found == [
        {
            "name": "shop-staging",
            "source": "ga4",
            "id": "properties/2",
            "account": "agency",
            "timezone": "America/New_York",
        },
        {
            "name": "other-brand",
            "source": "ga4",
            "id": "properties/3",
            "account": "agency",
            "timezone": "Europe/Berlin",
        },
        {
            "name": "blog.shop.example-search",
            "source": "gsc",
            "id": "https://blog.shop.example/",
            "account": "agency",
            "timezone": "America/Los_Angeles",
        },
        {
            "name": "shop.example-search",
            "source": "gsc",
            "id": "sc-domain:shop.example",
            "account": "agency",
            "timezone": "America/Los_Angeles",
        },
    ]
    assert '# GA4 property: Shop "Staging" (account Shop Inc)' in result.stdout
    # Pasted under the existing configuration, it validates.
    config.write_text(config.read_text() + "\n" + result.stdout)
    checked = _barometer(world, "config", "check")
    assert checked.returncode == 0, checked.stderr
    assert "(5 properties, 0 subscriptions, 1 accounts)" in checked.stdout


def test_discover_lists_sites_when_the_admin_api_refuses(world: GoogleWorld) -> None:
    _sites(world)
    world.write_config()
    world.ga4.fail(
        403, google_error(403, "Google Analytics Admin API has not been used in project 1.", "PERMISSION_DENIED")
    )

    result = _barometer(world, "properties", "discover", "--account", "agency")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: GA4 Admin API: no access: 403 Google Analytics Admin API has not been used in project 1."
    ]
    assert [p["id"] for p in tomllib.loads(result.stdout)["properties"]] == [
        "https://blog.shop.example/",
        "sc-domain:shop.example",
    ]


def test_discover_with_nothing_to_read_fails_in_one_line(world: GoogleWorld) -> None:
    world.write_config()
    result = _barometer(world, "properties", "discover", "--account", "agency")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: account 'agency': no GA4 property or Search Console site found"]
