"""``barometer demo`` finds every change it plants, whatever the date it runs on.

The demo's incidents are planted relative to its newest final day and its data are drawn
relative to it too, so the digest must name the same changes on 30 consecutive dates
(a month, every weekday, a year's end) through the real daily pipeline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.domain import TOTAL_SERIES, Kind
from jobs.storage import repo
from worker import bootstrap
from worker.demo import DEMO_SUBSCRIPTION, run_demo
from worker.settings import Settings, StorageSettings

#: What the README promises the demo shows: (property, series, metric) -> the kind found.
PLANTED = {
    ("shop", TOTAL_SERIES, "keyEvents"): Kind.OUTAGE,  # conversion tag removed
    ("shop", TOTAL_SERIES, "sessions"): Kind.DROP,  # site-wide drop...
    ("shop", "sessionDefaultChannelGroup:Organic Search", "sessions"): Kind.DROP,  # ...led by one channel
    ("shop", "landingPage:/blog/launch", "sessions"): Kind.SPIKE,  # launch post
    ("shop-search", "page:https://shop.example/guides/sizing", "impressions"): Kind.LEVEL_SHIFT,  # deindexed
    ("shop-search", "query:running shoes", "ctr"): Kind.RATE_CHANGE,  # rich result lost
}

FIRST_DAY = date(2026, 12, 10)  # the 30 days run over a year's end


@pytest.mark.parametrize("offset", range(30))
def test_the_demo_finds_every_planted_change_on_any_date(offset: int, tmp_path: Path) -> None:
    today = FIRST_DAY + timedelta(days=offset)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    outcome = run_demo(
        Settings(),
        outbox=tmp_path / "outbox",
        database_url=url,
        now=lambda: datetime(today.year, today.month, today.day, 12, tzinfo=UTC),
    )
    assert not outcome.report.failures
    (delivery,) = outcome.report.deliveries
    assert delivery.sent == 1
    # GA4 finishes counting 2 days back, Search Console 3 (in the property's own zone)
    dates = {r.property: r.data_date for r in outcome.report.properties}
    assert dates == {"shop": today - timedelta(days=2), "shop-search": today - timedelta(days=3)}

    engine = bootstrap.engine(Settings(storage=StorageSettings(database_url=url)))
    digest = repo.find_digest(engine, DEMO_SUBSCRIPTION, delivery.data_date)
    assert digest is not None
    shown = {(f.anomaly.property, f.anomaly.series, f.anomaly.metric): f.anomaly.kind for f in digest.findings}
    missing = {key: kind for key, kind in PLANTED.items() if shown.get(key) is not kind}
    assert not missing, f"{today}: planted changes not in the digest: {missing}; shown: {shown}"
    assert all(f.anomaly.day == dates[f.anomaly.property] for f in digest.findings)
    emls = list((tmp_path / "outbox").glob("*.eml"))
    assert [p.name for p in emls] == [f"{delivery.data_date}-{DEMO_SUBSCRIPTION}-marketing@example.com.eml"]
