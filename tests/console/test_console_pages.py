"""The console's pages do what the CLI does, on the same storage, as a user sees them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from alerts.mutes import add_mute, list_mutes
from jobs.domain import PointFlag
from jobs.storage.tables import DeliveryRow, FeedbackRow, FindingRow, MetricPointRow
from tests.console.world import World, build_world, sign_in
from worker import audit

BAROMETER = str(Path(sys.executable).with_name("barometer"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("pages"))


@pytest.fixture
def analyst(world: World) -> tuple[TestClient, str]:
    client = TestClient(world.app())
    return client, sign_in(client, "ana")


def _ids(html: str) -> list[int]:
    body = html.split("<tbody>", 1)[1] if "<tbody>" in html else ""
    return list(dict.fromkeys(int(i) for i in re.findall(r'href="/findings/(\d+)"', body)))


def _findings(world: World) -> list[tuple[int, str, str, str]]:
    t = FindingRow.__table__  # type: ignore[attr-defined]
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.id, t.c.severity, t.c.metric, t.c.kind).order_by(t.c.day.desc(), t.c.id.desc())
        )
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def test_the_overview_shows_each_property_with_its_freshness_and_open_incidents(
    world: World, analyst: tuple[TestClient, str]
) -> None:
    client, _ = analyst
    page = client.get("/").text
    assert "shop-search" in page
    assert "Newest data" in page
    assert "2026-11-18" in page  # shop's newest final day on 2026-11-20
    assert re.search(r"state=open\">\d+</a>", page)


@pytest.mark.parametrize("field", ["severity", "metric", "kind"])
def test_the_findings_list_filters(world: World, analyst: tuple[TestClient, str], field: str) -> None:
    client, _ = analyst
    stored = _findings(world)
    column = {"severity": 1, "metric": 2, "kind": 3}[field]
    value = stored[-1][column]
    shown = _ids(client.get(f"/findings?{field}={value}").text)
    assert shown == [f[0] for f in stored if f[column] == value]


def test_the_findings_list_pages_newest_first(world: World, analyst: tuple[TestClient, str]) -> None:
    client, _ = analyst
    stored = [f[0] for f in _findings(world)]
    first = client.get("/findings?per_page=5")
    second = client.get("/findings?per_page=5&page=2")
    assert _ids(first.text) == stored[:5]
    assert _ids(second.text) == stored[5:10]
    assert 'href="/findings?page=2&amp;per_page=5"' in first.text
    assert client.get("/findings?severity=loud").status_code == 400


def test_a_finding_page_shows_its_chart_contributors_and_digest(world: World, analyst: tuple[TestClient, str]) -> None:
    client, _ = analyst
    top = next(f for f in _findings(world) if f[0] != world.hostile_id)
    page = client.get(f"/findings/{top[0]}").text
    svg = page.split('<div class="chart">', 1)[1].split("</div>", 1)[0]
    assert 'class="band"' in svg
    assert 'class="expected"' in svg
    assert 'class="actual"' in svg
    assert f'<a href="/findings/{top[0]}"><circle class="flagged"' in svg
    assert "<h2>Contributors</h2>" in page
    assert 'id="digest-summary"' in page
    assert client.get("/findings/999999").status_code == 404


def test_a_label_reaches_the_storage_barometer_feedback_uses(world: World, analyst: tuple[TestClient, str]) -> None:
    client, csrf = analyst
    target = next(f[0] for f in _findings(world) if f[0] != world.hostile_id and f[2] == "sessions")
    done = client.post(
        f"/findings/{target}/label", data={"label": "expected", "note": "launch day", "csrf_token": csrf}
    )
    assert done.status_code == 200
    assert "Labelled expected." in done.text
    assert '<dd id="current-label">expected</dd>' in done.text
    fb, points = FeedbackRow.__table__, MetricPointRow.__table__  # type: ignore[attr-defined]
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(fb.c.label, fb.c.note).where(fb.c.finding_id == target)).all()
    assert [tuple(r) for r in rows] == [("expected", "launch day")]
    assert audit.recent(world.engine, limit=1)[0].action == "label"
    assert client.post(f"/findings/{target}/label", data={"label": "meh", "csrf_token": csrf}).status_code == 400
    ft = FindingRow.__table__  # type: ignore[attr-defined]
    with world.engine.connect() as conn:  # "expected" keeps the day out of later baselines, as `barometer feedback`
        found = conn.execute(sa.select(ft).where(ft.c.id == target)).mappings().one()
        flags = conn.execute(
            sa.select(points.c.flags).where(
                points.c.property_id == found["property_id"],
                points.c.series == found["series"],
                points.c.metric == "sessions",
                points.c.day == found["day"],
            )
        ).scalar_one()
    assert flags & PointFlag.EXCLUDED


def test_mutes_made_here_are_the_cli_mutes(world: World, analyst: tuple[TestClient, str]) -> None:
    client, csrf = analyst
    page = client.post(
        "/mutes", data={"pattern": "shop/keyEvents", "for": "2d", "reason": "tag fix", "csrf_token": csrf}
    )
    assert "shop/keyEvents" in page.text
    made = [m for m in list_mutes(world.engine, now=world.clock()) if m.pattern == "shop/keyEvents"]
    assert len(made) == 1
    cli_made = add_mute(world.engine, pattern="shop-search", until=world.clock() + (made[0].until - made[0].created_at),
                        now=world.clock())  # fmt: skip
    assert "shop-search" in client.get("/mutes").text
    client.post(f"/mutes/{cli_made.id}/end", data={"csrf_token": csrf})
    assert [m.pattern for m in list_mutes(world.engine, now=world.clock())] == ["shop/keyEvents"]
    bad = client.post("/mutes", data={"pattern": "shop/", "for": "2d", "csrf_token": csrf})
    assert "the metric part after the first" in bad.text
    assert [e.action for e in audit.recent(world.engine, limit=2)] == ["unmute", "mute"]


def test_retry_resends_a_failed_delivery_like_the_cli(world: World, tmp_path: Path) -> None:
    dl = DeliveryRow.__table__  # type: ignore[attr-defined]
    with world.engine.begin() as conn:
        row = conn.execute(sa.select(dl.c.id).where(dl.c.channel == "file").order_by(dl.c.id)).first()
        assert row is not None
        conn.execute(sa.update(dl).where(dl.c.id == row[0]).values(status="failed", error="outbox full", sent_at=None))
    delivery_id = int(row[0])
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the outbox should be")
    broken = world.settings.model_copy(
        update={"outbox": world.settings.outbox.model_copy(update={"dir": str(blocked)})}
    )
    from worker.web import create_app

    client = TestClient(create_app(broken, now=world.clock))
    csrf = sign_in(client, "ana")
    listed = client.get("/deliveries?status=failed").text
    assert f'action="/deliveries/{delivery_id}/retry"' in listed
    still = client.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": csrf})
    assert f"delivery {delivery_id} (file" in still.text
    assert re.search(rf"delivery {delivery_id} \(file marketing@example.com\): (failed|pending): outbox ", still.text)
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(dl.c.status).where(dl.c.id == delivery_id)).scalar_one() != "sent"
    fixed = TestClient(world.app())
    csrf = sign_in(fixed, "ana")
    for old in world.outbox.glob("*.eml"):
        old.unlink()
    done = fixed.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": csrf})
    assert f"delivery {delivery_id} (file marketing@example.com): sent" in done.text
    assert list(world.outbox.glob("*.eml"))  # the digest arrived again
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(dl.c.status).where(dl.c.id == delivery_id)).scalar_one() == "sent"
    assert [e.action for e in audit.recent(world.engine, limit=2)] == ["retry", "retry"]


def test_digests_are_listed_and_shown_as_the_recipients_got_them(world: World, analyst: tuple[TestClient, str]) -> None:
    client, _ = analyst
    listing = client.get("/digests").text
    digest_id = int(re.findall(r'href="/digests/(\d+)"', listing)[0])
    page = client.get(f"/digests/{digest_id}").text
    assert f'src="/digests/{digest_id}/email.html"' in page
    email = client.get(f"/digests/{digest_id}/email.html")
    assert "sandbox" in email.headers["content-security-policy"]
    assert "data:image/png;base64," in email.text
    assert "cid:" not in email.text


def test_the_llm_page_shows_month_to_date_spend(world: World, analyst: tuple[TestClient, str]) -> None:
    from datetime import timedelta

    from jobs.domain import LLMCall, LLMOutcome
    from jobs.storage.llm_calls import record_call

    now = world.clock()
    for days, cost in ((0, 0.25), (3, 0.5), (40, 9.0)):  # the last one is from the month before
        record_call(world.engine, LLMCall("openai", "gpt-4.1-mini", "v1", LLMOutcome.OK, now - timedelta(days=days),
                                          tokens_in=1000, tokens_out=200, cost_usd=cost))  # fmt: skip
    client, _ = analyst
    page = client.get("/llm").text
    assert "$0.7500" in page.split('id="spend"', 1)[1].split("</dl>", 1)[0]
    assert page.count("gpt-4.1-mini") >= 3


def test_tuning_preview_compares_and_save_reaches_config_check(world: World, analyst: tuple[TestClient, str]) -> None:
    client, csrf = analyst
    form = {"property": "shop", "metric": "sessions", "direction": "both", "weeks": "8", "csrf_token": csrf}
    same = client.post("/tuning/preview", data={**form, "sensitivity": "0.01", "min_change_pct": "0.15"}).text
    current = int(re.search(r'id="count-current"><strong>(\d+)', same).group(1))  # type: ignore[union-attr]
    assert current > 0
    assert "Added (0)" in same
    assert "Removed (0)" in same
    strict = client.post("/tuning/preview", data={**form, "sensitivity": "0.01", "min_change_pct": "5"}).text
    assert 'id="count-proposed"><strong>0<' in strict
    assert f"Removed ({current})" in strict
    assert re.search(r'<ul id="removed">\s*<li><a href="/findings', strict)
    saved = client.post("/tuning", data={**form, "sensitivity": "0.005", "min_change_pct": "0.3"})
    assert "Saved shop/sessions." in saved.text
    assert audit.recent(world.engine, limit=1)[0].action == "tuning"
    env = {"BAROMETER_STORAGE__DATABASE_URL": world.settings.storage.database_url, "PATH": "/usr/bin:/bin"}
    checked = subprocess.run([BAROMETER, "config", "check"], env=env, cwd=world.outbox.parent, capture_output=True,
                             text=True, check=False, timeout=120)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "tuning shop/sessions: sensitivity=0.005, min_change_pct=0.3, direction=both (saved by ana" in checked.stdout
    bad = client.post("/tuning", data={**form, "sensitivity": "0.9", "min_change_pct": "0.3"})
    assert bad.status_code == 400
    assert "sensitivity: expected a false discovery rate" in bad.text


def test_the_audit_page_lists_changes_with_who(world: World, analyst: tuple[TestClient, str]) -> None:
    audit.record(world.engine, actor="cli:root", action="user_add", target="user <b>x</b>", now=world.clock())
    client, _ = analyst
    page = client.get("/audit").text
    assert "cli:root" in page
    assert "user &lt;b&gt;x&lt;/b&gt;" in page


def test_a_feedback_link_lands_a_signed_in_reader_on_the_finding_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.storage import repo
    from worker import bootstrap

    monkeypatch.setenv("BAROMETER_TEST_LINK_SECRET", "a-long-enough-link-secret-for-tests")
    app = world.app(public_url="https://barometer.example", link_secret_env="BAROMETER_TEST_LINK_SECRET")
    target = next(f[0] for f in _findings(world) if f[0] != world.hostile_id and f[2] == "impressions")
    found = repo.finding_by_id(world.engine, target)
    assert found is not None
    [_, false_alarm, _] = bootstrap.links_for(app.state.settings, now=world.clock()).feedback(found)
    path = false_alarm.url.removeprefix("https://barometer.example")
    client = TestClient(app, base_url="https://testserver")  # the session cookie is Secure behind https
    sign_in(client, "ana")
    assert client.get(path).status_code == 200  # a GET (a link scanner) records nothing
    landed = client.post(path)  # the page's form, then the redirect
    assert landed.status_code == 200
    assert landed.url.path == f"/findings/{target}"
    assert '<dd id="current-label">false_alarm</dd>' in landed.text
