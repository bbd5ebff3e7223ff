"""All Google fakes at once, plus a barometer.toml pointing at them.

``GoogleWorld`` starts :class:`FakeOAuth`, :class:`FakeGA4` and :class:`FakeSearchConsole`
on 127.0.0.1, writes a service-account key whose e-mail the token fake knows, and renders
a configuration whose ``[google]`` endpoints are the fakes::

    with GoogleWorld(tmp_path) as world:
        world.ga4.add_property("123").add(day, {}, sessions=5)
        config = world.write_config(properties=[world.ga4_property("shop", "properties/123")])
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient.http import HttpRequest

from tests.fakes.google import FakeOAuth
from tests.fakes.google_ga4 import FakeGA4
from tests.fakes.google_gsc import FakeSearchConsole

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "SA_EMAIL", "SECRET_KEY", "GoogleWorld", "NoSleepRequest"]

SA_EMAIL = "barometer@agency-project.iam.gserviceaccount.com"
CLIENT_ID = "client-1"
CLIENT_SECRET = "fake-client-secret"
SECRET_KEY = Fernet.generate_key().decode()


class NoSleepRequest(HttpRequest):  # type: ignore[misc]
    """google-api-python-client's request without the back-off sleeps between retries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = lambda _seconds: None


@functools.cache
def _private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


class GoogleWorld:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.oauth = FakeOAuth()
        self.ga4 = FakeGA4(oauth=self.oauth)
        self.gsc = FakeSearchConsole(oauth=self.oauth)
        self.key_file = root / "sa.json"
        self.database_url = f"sqlite:///{root / 'barometer.db'}"

    def __enter__(self) -> Self:
        for fake in (self.oauth, self.ga4, self.gsc):
            fake.__enter__()
        self.oauth.add_service_account(SA_EMAIL)
        self.key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "agency-project",
                    "private_key_id": "key-1",
                    "private_key": _private_key(),
                    "client_email": SA_EMAIL,
                    "client_id": "1234567890",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            )
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for fake in (self.gsc, self.ga4, self.oauth):
            fake.__exit__(exc_type, exc, tb)

    @property
    def env(self) -> dict[str, str]:
        """The secrets barometer reads from the environment."""
        return {"BAROMETER_SECRET_KEY": SECRET_KEY, "GOOGLE_OAUTH_CLIENT_SECRET": CLIENT_SECRET}

    def config_text(
        self,
        *,
        properties: Iterable[dict[str, Any]] = (),
        accounts: Iterable[dict[str, Any]] | None = None,
        google: dict[str, Any] | None = None,
        extra: str = "",
    ) -> str:
        settings = {
            "ga4_endpoint": self.ga4.url,
            "gsc_endpoint": self.gsc.url,
            "admin_endpoint": self.ga4.url,
            "token_uri": self.oauth.token_uri,
            "auth_uri": f"{self.oauth.url}/o/oauth2/auth",
            "oauth_client_id": CLIENT_ID,
            "max_retries": 2,
        } | (google or {})
        lines = ["[storage]", f"database_url = {_toml(self.database_url)}", "[outbox]"]
        lines.append(f"dir = {_toml(str(self.root / 'outbox'))}")
        lines.append("[google]")
        lines += [f"{k} = {_toml(v)}" for k, v in settings.items()]
        if accounts is None:
            accounts = [{"name": "agency", "kind": "service_account", "key_file": str(self.key_file)}]
        for table, rows in (("accounts", accounts), ("properties", properties)):
            for row in rows:
                lines.append(f"[[{table}]]")
                lines += [f"{k} = {_toml(v)}" for k, v in row.items()]
        return "\n".join(lines) + "\n" + extra

    def write_config(self, **kwargs: Any) -> Path:
        path = self.root / "barometer.toml"
        path.write_text(self.config_text(**kwargs))
        return path
