"""The console on PostgreSQL (the database at scale): the same pages, the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.console.world import build_world, sign_in
from worker import bootstrap

pytestmark = pytest.mark.postgres


def test_pages_and_filters_answer_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    world = build_world(tmp_path, postgres_url)
    try:
        client = TestClient(world.app())
        csrf = sign_in(client, "ana")
        every = client.get("/api/findings?per_page=500").json()["findings"]
        open_ = client.get("/api/findings?state=open&per_page=500").json()["findings"]
        closed = client.get("/api/findings?state=closed&per_page=500").json()["findings"]
        assert every
        assert len(open_) + len(closed) == len(every)
        assert {f["state"] for f in open_} <= {"open"}
        done = client.post(f"/findings/{world.hostile_id}/label", data={"label": "false_alarm", "csrf_token": csrf})
        assert "Labelled false_alarm." in done.text
        closed_now = client.get("/api/findings?state=closed&label=false_alarm").json()["findings"]
        assert [f["id"] for f in closed_now] == [world.hostile_id]
        for path in ("/", "/findings", f"/findings/{world.hostile_id}", "/digests", "/deliveries", "/llm", "/audit"):
            assert client.get(path).status_code == 200, path
        preview = client.post(
            "/tuning/preview",
            data={"property": "shop", "metric": "sessions", "sensitivity": "0.01", "min_change_pct": "0.15",
                  "direction": "both", "csrf_token": csrf},
        )  # fmt: skip
        assert 'id="count-current"' in preview.text
    finally:
        bootstrap.forget_engine(postgres_url)
