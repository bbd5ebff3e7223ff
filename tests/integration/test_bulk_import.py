"""``barometer import``'s bulk store on SQLite and PostgreSQL: every value lands, a second
import replaces (keeping an analyst's EXCLUDED mark), other properties are untouched, and
a bad file stores nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs.domain import Observation, PointFlag, PropertySpec
from jobs.reader import read_columns
from jobs.storage import repo
from jobs.storage.bulk import store_columns
from worker import db
from worker.commands import import_csv
from worker.runtime import build as build_runtime
from worker.settings import load_settings

D = date(2026, 3, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    found = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))
    engine = db.create_engine(found)
    db.upgrade(engine)
    engine.dispose()
    return found


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("date,series,metric,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _points(engine: sa.Engine, name: str) -> dict[tuple[str, str, date], tuple[float, int]]:
    prop_id = repo.property_id(engine, name)
    assert prop_id is not None
    return {
        (o.series, o.metric, o.day): (o.value, int(o.flags)) for o in repo.iter_points(engine, prop_id, prop_name=name)
    }


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "barometer.toml"
    path.write_text(
        f'[storage]\ndatabase_url = "{url}"\n'
        '[[properties]]\nname = "shop"\nsource = "csv"\n'
        '[[properties]]\nname = "other"\nsource = "csv"\n',
        encoding="utf-8",
    )
    return path


def test_import_stores_every_value_and_a_second_import_replaces(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAROMETER_CONFIG", str(_config(tmp_path, url)))
    settings = load_settings()
    engine = db.create_engine(url)
    names = ["total", "page:/a", "page:/ä,quoted", 'query:say "hi"']
    quoted = ['"' + s.replace('"', '""') + '"' for s in names]
    rows = [
        f"{(D + timedelta(days=n)).isoformat()},{quoted[i]},{m},{n * 10 + i + 0.25 * (m == 'position')}"
        for n in range(20)
        for i, s in enumerate(names)
        for m in ("clicks", "position")
    ]
    other = repo.ensure_property(engine, PropertySpec("other", "csv"))
    repo.upsert_points(engine, other, [Observation("other", "total", "clicks", D, 5.0)])

    assert import_csv(build_runtime(settings), _csv(tmp_path / "a.csv", rows), property_name="shop") == len(rows)
    stored = _points(engine, "shop")
    assert len(stored) == len(rows)
    assert stored["page:/ä,quoted", "position", D + timedelta(days=3)] == (32.25, 0)
    assert stored['query:say "hi"', "clicks", D] == (3.0, 0)

    # an analyst excludes a point; a re-import replaces values but keeps the mark
    prop_id = repo.property_id(engine, "shop")
    assert prop_id is not None
    repo.upsert_points(engine, prop_id, [Observation("shop", "total", "clicks", D, 0.0, PointFlag.EXCLUDED)])
    first = f'{D.isoformat()},"total",clicks,0.0'
    assert first in rows
    again = [f'{D.isoformat()},"total",clicks,7' if r == first else r for r in rows]
    import_csv(build_runtime(settings), _csv(tmp_path / "b.csv", again), property_name="shop")
    stored = _points(engine, "shop")
    assert stored["total", "clicks", D] == (7.0, int(PointFlag.EXCLUDED))
    assert len(stored) == len(rows)
    assert _points(engine, "other") == {("total", "clicks", D): (5.0, 0)}
    engine.dispose()


def test_a_bad_file_stores_nothing_and_the_key_stays(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAROMETER_CONFIG", str(_config(tmp_path, url)))
    rows = [f"{(D + timedelta(days=n)).isoformat()},total,clicks,{n}" for n in range(30)]
    rows.append(f"{D.isoformat()},total,clicks,3")  # a duplicate, last
    from jobs.errors import InputError, UnknownPropertyError

    with pytest.raises(
        InputError, match=r"^bad\.csv:32: duplicate row for 2026-03-01 total clicks \(first at line 2\)$"
    ):
        import_csv(build_runtime(load_settings()), _csv(tmp_path / "bad.csv", rows), property_name="shop")
    engine = db.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM metric_point")).scalar() == 0
    # a failure inside the store (a property id that does not exist) leaves no row and the key in place
    cols = read_columns(_csv(tmp_path / "good.csv", rows[:-1]))
    with pytest.raises(UnknownPropertyError, match=r"^no property with id 999 is stored; nothing was written$"):
        store_columns(engine, 999, cols)
    with pytest.raises(UnknownPropertyError):
        repo.upsert_points(engine, 999, [Observation("x", "total", "clicks", D, 1.0)])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM metric_point")).scalar() == 0
    key = sa.inspect(engine).get_pk_constraint("metric_point")["constrained_columns"]
    assert key == ["property_id", "metric", "day", "series"]
    engine.dispose()


def test_every_value_and_name_comes_back_exactly_across_chunks(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names of every length and script, values that only print exactly with 17 digits,
    dates before and after 2000 (PostgreSQL's day zero), in more rows than one chunk."""
    monkeypatch.setenv("BAROMETER_CONFIG", str(_config(tmp_path, url)))
    names = ["total", "q:" + "x" * 700, "q:🦜 ü", "q:a", "q:ab", *(f"page:/{i}" for i in range(995))]
    quoted = ['"' + s.replace('"', '""') + '"' for s in names]
    days = [date(1999, 12, 31) + timedelta(days=n) for n in range(-20, 21)]

    def clicks(k: int) -> float:
        return float(k % 977)

    def position(k: int) -> float:
        return 1 / 3 + k * 1e-9 - (k % 2) * 7.5e-3

    values = {"clicks": clicks, "position": position}
    rows = [
        f"{day.isoformat()},{quoted[i]},{metric},{make(i * 41 + d)!r}"
        for d, day in enumerate(days)
        for i in range(len(names))
        for metric, make in values.items()
    ]
    assert len(rows) > 80_000
    engine = db.create_engine(url)
    assert import_csv(build_runtime(load_settings()), _csv(tmp_path / "a.csv", rows), property_name="shop") == len(rows)
    stored = _points(engine, "shop")
    assert len(stored) == len(rows)
    for d, day in enumerate(days):
        for i, name in enumerate(names):
            for metric, make in values.items():
                assert stored[name, metric, day] == (make(i * 41 + d), 0)
    engine.dispose()
