"""``barometer web`` as ops start it: a real uvicorn process answering its health check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BAROMETER = str(Path(sys.executable).with_name("barometer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[str], *, limit: float = 30.0) -> httpx.Response:
    """Poll until the server answers (start-up time only; no test outcome depends on it)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=5)
                pytest.fail(f"barometer web did not answer: {out}{err}")
            time.sleep(0.1)


@pytest.mark.parametrize("database", ["ok", "unreachable"])
def test_barometer_web_serves_its_health_check(tmp_path: Path, database: str) -> None:
    port = _free_port()
    url = f"sqlite:///{tmp_path / 'b.db'}" if database == "ok" else f"sqlite:///{tmp_path / 'no' / 'such' / 'b.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")}
    env["BAROMETER_STORAGE__DATABASE_URL"] = url
    proc = subprocess.Popen(
        [BAROMETER, "web", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = _wait_for(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    if database == "ok":
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    else:
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
    assert f"http://127.0.0.1:{port}/" in out
