"""Links in messages, served by the real app (``barometer web``) on a real SQLite database.

A link opened by a mail scanner (GET) records nothing; the page's POST records the label,
once per press, as ``barometer feedback`` would. Tampered, misused and expired links get a
clear 403; the chart and full-list links serve only what they were signed for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from alerts.render.links import Links
from alerts.signing import Signer
from jobs.domain import Digest, Incident, PropertySpec
from jobs.storage import repo
from jobs.storage.tables import FeedbackRow
from tests.fakes import finding, sample_digest
from worker import bootstrap
from worker.settings import PropertySettings, Settings, StorageSettings, WebSettings
from worker.web import create_app

SECRET = "a-long-enough-link-secret-for-tests"
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("BAROMETER_TEST_LINK_SECRET", SECRET)
    return Settings(
        storage=StorageSettings(database_url=sqlite_url),
        web=WebSettings(public_url="https://barometer.example", link_secret_env="BAROMETER_TEST_LINK_SECRET"),
        properties=(PropertySettings(name="shop", source="csv"),),
    )


def _labels(settings: Settings) -> list[tuple[int, str]]:
    table = FeedbackRow.__table__  # type: ignore[attr-defined]
    with bootstrap.engine(settings).connect() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(sa.select(table.c.finding_id, table.c.label))]


def _stored(settings: Settings) -> int:
    engine = bootstrap.engine(settings)
    prop = repo.ensure_property(engine, PropertySpec(name="shop", source="csv"))
    (saved,) = repo.save_findings(engine, prop, [finding(finding_id=None)])
    assert saved.id is not None
    return saved.id


def _links(settings: Settings, now: datetime = NOW) -> Links:
    return bootstrap.links_for(settings, now=now)


def test_a_prefetch_records_nothing_and_the_page_s_post_records_the_label(settings: Settings) -> None:
    fid = _stored(settings)
    f = repo.finding_by_id(bootstrap.engine(settings), fid)
    assert f is not None
    [_, false_alarm, useful] = _links(settings).feedback(f)
    client = TestClient(create_app(settings, now=lambda: NOW))
    path = false_alarm.url.removeprefix("https://barometer.example")
    page = client.get(path)
    assert page.status_code == 200
    assert "Mark this change as a false alarm?" in page.text
    assert '<form id="f" method="post">' in page.text
    nonce = page.headers["content-security-policy"].split("script-src 'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text
    assert _labels(settings) == []  # a GET (a link scanner) records nothing
    done = client.post(path)
    assert done.status_code == 200
    assert "Recorded: this change was a false alarm." in done.text
    assert f'<a href="/findings/{fid}">Open it in the console</a>' in done.text
    assert _labels(settings) == [(fid, "false_alarm")]
    client.post(useful.url.removeprefix("https://barometer.example"))
    assert _labels(settings) == [(fid, "false_alarm"), (fid, "confirmed")]


def test_tampered_misused_and_expired_links_are_refused(settings: Settings) -> None:
    fid = _stored(settings)
    f = repo.finding_by_id(bootstrap.engine(settings), fid)
    assert f is not None
    token = _links(settings).feedback(f)[0].url.rsplit("/", 1)[1]
    client = TestClient(create_app(settings, now=lambda: NOW))
    payload, sig = token.split(".")
    forged = Signer(b"another secret of enough length").sign("feedback", fid, now=NOW, label="expected")
    chart = _links(settings).chart(f).rsplit("/", 1)[1].removesuffix(".png")
    for bad, reason in (
        (f"{payload}x.{sig}", "was changed"),
        (forged, "was changed"),
        (chart, "is for chart, not feedback"),
    ):
        answer = client.post(f"/feedback/{bad}")
        assert answer.status_code == 403
        assert reason in answer.text
    late = TestClient(create_app(settings, now=lambda: NOW + timedelta(days=15)))
    answer = late.post(f"/feedback/{token}")
    assert answer.status_code == 403
    assert "expired on 2026-12-04" in answer.text
    assert _labels(settings) == []


def test_chart_and_full_list_links_serve_what_they_were_signed_for(settings: Settings) -> None:
    fid = _stored(settings)
    engine = bootstrap.engine(settings)
    f = repo.finding_by_id(engine, fid)
    assert f is not None
    digest = repo.save_digest(
        engine, Digest("marketing", f.anomaly.day, ("shop",), (f,), "h", "s", NOW, incidents=(Incident((f,)),))
    )
    client = TestClient(create_app(settings, now=lambda: NOW))
    png = client.get(_links(settings).chart(f).removeprefix("https://barometer.example"))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    full = client.get(_links(settings).all_findings(digest.id).removeprefix("https://barometer.example"))
    assert full.status_code == 200
    assert "Sessions fell 41%" in full.text
    other = client.get(
        f"/digests/{(digest.id or 0) + 1}/all?t=" + _links(settings).all_findings(digest.id).split("t=")[1]
    )
    assert other.status_code == 403


def test_without_a_link_secret_messages_carry_no_signed_links(sqlite_url: str) -> None:
    plain = Settings(storage=StorageSettings(database_url=sqlite_url), web=WebSettings(public_url="https://b.example"))
    links = bootstrap.links_for(plain, now=NOW)
    assert links.feedback(sample_digest().findings[0]) == ()
    assert links.all_findings(7) == ""


def test_feedback_on_an_incident_labels_its_lead_and_its_parts(settings: Settings) -> None:
    engine = bootstrap.engine(settings)
    prop = repo.ensure_property(engine, PropertySpec(name="shop", source="csv"))
    lead, part = repo.save_findings(engine, prop, [finding(), finding(metric="totalUsers", observed=581, expected=944)])
    assert lead.id is not None
    assert part.id is not None
    expected = _links(settings).feedback(lead, also=(part,))[0]
    client = TestClient(create_app(settings, now=lambda: NOW))
    assert client.post(expected.url.removeprefix("https://barometer.example")).status_code == 200
    assert sorted(_labels(settings)) == [(lead.id, "expected"), (part.id, "expected")]
