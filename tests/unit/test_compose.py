"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine here).

``make compose-check`` runs ``docker compose config`` where a Compose v2 client exists;
these tests hold the properties ops rely on whatever client is installed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("redis", "postgres", "worker", "beat", "web", "mailpit")
BAROMETER_ROLES = ("migrate", "worker", "beat", "web")
# The one credential allowed inline: the throwaway password of the compose-local database.
DEV_POSTGRES_PASSWORD = "barometer"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def test_required_services_exist(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {"redis", "postgres", "migrate", "worker", "beat", "web", "mailpit"}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_a_healthcheck_and_restart(compose: dict[str, Any], name: str) -> None:
    service = _service(compose, name)
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert len(test) > 1
    assert service["restart"] == "unless-stopped"


def test_healthchecks_probe_the_right_thing(compose: dict[str, Any]) -> None:
    assert _service(compose, "redis")["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "pg_isready" in " ".join(_service(compose, "postgres")["healthcheck"]["test"])
    worker_check = " ".join(_service(compose, "worker")["healthcheck"]["test"])
    # $$ is Compose's escape: the container's own $HOSTNAME, i.e. this worker's node name.
    assert "celery -A worker inspect ping -d celery@$$HOSTNAME" in worker_check
    assert "redbeat_key_prefix" in " ".join(_service(compose, "beat")["healthcheck"]["test"])
    assert "http://127.0.0.1:8040/healthz" in " ".join(_service(compose, "web")["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_wait_for_redis_and_migrations(compose: dict[str, Any], name: str) -> None:
    depends = _service(compose, name)["depends_on"]
    assert depends["redis"] == {"condition": "service_healthy"}
    assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_migrate_is_one_shot_after_postgres(compose: dict[str, Any]) -> None:
    migrate = _service(compose, "migrate")
    assert migrate["command"][-2:] == ["db", "upgrade"]
    assert migrate["command"][0] == "barometer"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert "healthcheck" not in migrate


def test_commands(compose: dict[str, Any]) -> None:
    worker = ["celery", "-A", "worker", "worker", "--loglevel", "INFO", "--concurrency", "2"]
    assert _service(compose, "worker")["command"] == worker
    assert _service(compose, "beat")["command"] == ["celery", "-A", "worker", "beat", "--loglevel", "INFO"]


def test_exactly_one_beat(compose: dict[str, Any]) -> None:
    beat = _service(compose, "beat")
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1


@pytest.mark.parametrize("name", BAROMETER_ROLES)
def test_barometer_roles_share_config_env_and_user(compose: dict[str, Any], name: str) -> None:
    service = _service(compose, name)
    env = service["environment"]
    assert env["BAROMETER_STORAGE__DATABASE_URL"] == (
        "postgresql+psycopg://barometer:barometer@postgres:5432/barometer"
    )
    assert env["BAROMETER_BROKER__URL"] == "redis://redis:6379/0"
    assert env["BAROMETER_SMTP__HOST"] == "mailpit"
    assert str(env["BAROMETER_SMTP__PORT"]) == "1025"
    assert str(env["BAROMETER_SMTP__STARTTLS"]).lower() == "false"
    assert env["BAROMETER_CONFIG"] == "/config/barometer.toml"
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert str(service["user"]).split(":")[0] == "10001"
    mounts = [v for v in service["volumes"] if isinstance(v, dict) and v.get("target") == "/config/barometer.toml"]
    assert mounts == [
        {
            "type": "bind",
            "source": "./barometer.toml",
            "target": "/config/barometer.toml",
            "read_only": True,
            "bind": {"create_host_path": False},
        }
    ]


def _environment_items(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    items: list[tuple[str, str, str]] = []
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        pairs = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        items.extend((name, key, str(value)) for key, value in pairs)
    return items


def test_no_inline_secrets(compose: dict[str, Any]) -> None:
    sensitive = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEY|DSN|WEBHOOK", re.I)
    inline = [
        (service, key)
        for service, key, value in _environment_items(compose)
        if sensitive.search(key) and (service, key, value) != ("postgres", "POSTGRES_PASSWORD", DEV_POSTGRES_PASSWORD)
    ]
    assert inline == []
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "hooks.slack.com" not in text
    assert not re.search(r"://[^:/\s]+:(?!barometer@)[^@\s]+@", text), "a URL with an inline password"


def test_images_are_pinned_by_tag(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+", image), f"{name}: image {image!r} has no tag"
        assert not image.endswith((":latest", ":edge")), f"{name}: image {image!r} floats"


def _final_stage(dockerfile: str) -> list[str]:
    lines = [line.strip() for line in dockerfile.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(starts) >= 2, "the Dockerfile should be multi-stage"
    return lines[starts[-1] :]


def test_dockerfile_builds_from_the_lock_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, re.M)
    final = _final_stage(dockerfile)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0] == "10001"
    assert "WORKDIR /app" in final
    assert not [line for line in final if re.match(r"(ENV|ARG)\s.*(PASSWORD|TOKEN|SECRET|API_KEY|DSN)", line)]


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert ignored >= {".venv", ".git", "outbox", "*.db", ".env", ".env.*", ".pytest_cache", ".mypy_cache", "tests"}
