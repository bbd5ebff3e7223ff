"""Tuning from the console: per property x metric sensitivity, minimum change and direction.

Saved values live in the database (``tuning`` table) and apply on top of
``barometer.toml``'s ``[detection]``: :func:`params_for` is what the daily run uses for
a property, :func:`describe` what ``barometer config check`` prints. :func:`preview`
replays the property's last weeks twice, walking forward exactly as the daily run
decides (only rows dated <= each day), under the current and the proposed settings,
and compares what fired; nothing is stored or sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import cast

import sqlalchemy as sa

from jobs.detection.engine import walk_pair
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams, DirectionFilter, MetricParams
from jobs.domain import Finding
from jobs.errors import BarometerError, InputError
from jobs.pipeline import history_days
from jobs.storage import repo
from jobs.storage.console import TuningRow
from jobs.storage.tables import FindingRow
from worker import audit

__all__ = ["Knobs", "Preview", "Saved", "current_knobs", "describe", "params_for", "preview", "save", "saved"]

_T = cast(sa.Table, TuningRow.__table__)  # type: ignore[attr-defined]
_F = cast(sa.Table, FindingRow.__table__)  # type: ignore[attr-defined]
#: Stored metrics a derived metric is computed from (the replay loads these too).
_SOURCES = {"ctr": ("clicks", "impressions")}


@dataclass(frozen=True, slots=True)
class Knobs:
    """The three settings the console tunes."""

    sensitivity: float
    min_change_pct: float
    direction: DirectionFilter

    def check(self) -> Knobs:
        if not 0 < self.sensitivity < 0.5:
            raise InputError(
                f"sensitivity: expected a false discovery rate above 0 and below 0.5, got {self.sensitivity}"
            )
        if not 0 <= self.min_change_pct <= 10:
            raise InputError(f"min_change_pct: expected 0 to 10 (0.15 = 15%), got {self.min_change_pct}")
        return self

    def apply(self, params: MetricParams) -> MetricParams:
        return replace(
            params, sensitivity=self.sensitivity, min_change_pct=self.min_change_pct, direction=self.direction
        )


@dataclass(frozen=True, slots=True)
class Saved:
    property: str
    metric: str
    knobs: Knobs
    saved_by: str
    saved_at: datetime


def saved(engine: sa.Engine, *, property_name: str | None = None) -> tuple[Saved, ...]:
    query = sa.select(_T).order_by(_T.c.property, _T.c.metric)
    if property_name is not None:
        query = query.where(_T.c.property == property_name)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return tuple(
        Saved(
            str(r["property"]),
            str(r["metric"]),
            Knobs(float(r["sensitivity"]), float(r["min_change_pct"]), DirectionFilter(r["direction"])),
            str(r["saved_by"]),
            r["saved_at"],
        )
        for r in rows
    )


def params_for(base: DetectionParams, engine: sa.Engine, property_name: str) -> DetectionParams:
    """``base`` (from barometer.toml) with the values saved for ``property_name`` applied."""
    params = base
    for entry in saved(engine, property_name=property_name):
        params = replace(
            params, metrics={**params.metrics, entry.metric: entry.knobs.apply(params.for_metric(entry.metric))}
        )
    return params


def current_knobs(base: DetectionParams, engine: sa.Engine, property_name: str, metric: str) -> Knobs:
    p = params_for(base, engine, property_name).for_metric(metric)
    return Knobs(p.sensitivity, p.min_change_pct, p.direction)


def save(engine: sa.Engine, property_name: str, metric: str, knobs: Knobs, *, actor: str, now: datetime) -> None:
    """Store ``knobs`` for ``property_name`` x ``metric`` (replacing earlier ones) and audit it."""
    knobs.check()
    values = {
        "sensitivity": knobs.sensitivity,
        "min_change_pct": knobs.min_change_pct,
        "direction": knobs.direction.value,
        "saved_by": actor,
        "saved_at": now,
    }
    where = sa.and_(_T.c.property == property_name, _T.c.metric == metric)
    with engine.begin() as conn:
        before = conn.execute(sa.select(_T).where(where)).mappings().first()
        if before is None:
            conn.execute(sa.insert(_T).values(property=property_name, metric=metric, **values))
        else:
            conn.execute(sa.update(_T).where(where).values(**values))
        was = (
            ""
            if before is None
            else f"was sensitivity={before['sensitivity']}, min_change_pct={before['min_change_pct']}, "
            f"direction={before['direction']}; "
        )
        audit.record(
            conn,
            actor=actor,
            action="tuning",
            target=f"{property_name}/{metric}",
            detail=f"{was}now sensitivity={knobs.sensitivity}, min_change_pct={knobs.min_change_pct}, "
            f"direction={knobs.direction.value}",
            now=now,
        )


def describe(engine: sa.Engine) -> list[str]:
    """One line per saved tuning, for ``barometer config check``."""
    return [
        f"tuning {s.property}/{s.metric}: sensitivity={s.knobs.sensitivity}, min_change_pct={s.knobs.min_change_pct}, "
        f"direction={s.knobs.direction.value} (saved by {s.saved_by} at {s.saved_at:%Y-%m-%d %H:%M})"
        for s in saved(engine)
    ]


@dataclass(frozen=True, slots=True)
class Replayed:
    """A finding of the replay; ``stored_id`` is the stored finding of the same day, series, metric and direction."""

    finding: Finding
    stored_id: int | None


@dataclass(frozen=True, slots=True)
class Preview:
    property: str
    metric: str
    start: date
    end: date
    current: Knobs
    proposed: Knobs
    under_current: tuple[Replayed, ...]
    under_proposed: tuple[Replayed, ...]
    added: tuple[Replayed, ...]
    removed: tuple[Replayed, ...]


def _key(f: Finding) -> tuple[date, str, str, str]:
    a = f.anomaly
    return (a.day, a.series, a.metric, a.direction.value)


def preview(
    base: DetectionParams, engine: sa.Engine, property_name: str, metric: str, proposed: Knobs, *, weeks: int = 8
) -> Preview:
    """Replay the last ``weeks`` weeks of ``metric`` under the current and the ``proposed`` settings."""
    proposed.check()
    if not 1 <= weeks <= 26:
        raise InputError(f"weeks: expected 1 to 26, got {weeks}")
    prop_id = repo.property_id(engine, property_name)
    end = None if prop_id is None else (repo.fetched_through(engine, prop_id) or repo.latest_day(engine, prop_id))
    if prop_id is None or end is None:
        raise BarometerError(f"property {property_name!r} has no stored data yet (run `barometer fetch` or `import`)")
    start = end - timedelta(days=7 * weeks - 1)
    now_params = params_for(base, engine, property_name)
    new_params = replace(
        now_params, metrics={**now_params.metrics, metric: proposed.apply(now_params.for_metric(metric))}
    )
    panels = repo.load_panels(
        engine,
        prop_id,
        prop_name=property_name,
        start=start - timedelta(days=max(history_days(now_params), history_days(new_params))),
        end=end,
        last_final=end,
        metrics=_SOURCES.get(metric, (metric,)),
    )
    panels = tuple(p for p in derive_ctr(panels) if p.metric == metric)
    if not panels:
        raise BarometerError(f"property {property_name!r} has no stored {metric!r} data")
    walked = walk_pair(panels, now_params, new_params, start=start, end=end, charts=False)
    before, after = walked[0].findings, walked[1].findings
    stored = _stored_ids(engine, prop_id, metric, start=start, end=end)
    old_keys, new_keys = {_key(f) for f in before}, {_key(f) for f in after}

    def replayed(found: tuple[Finding, ...]) -> tuple[Replayed, ...]:
        return tuple(Replayed(f, stored.get(_key(f))) for f in found)

    return Preview(
        property=property_name,
        metric=metric,
        start=start,
        end=end,
        current=current_knobs(base, engine, property_name, metric),
        proposed=proposed,
        under_current=replayed(before),
        under_proposed=replayed(after),
        added=replayed(tuple(f for f in after if _key(f) not in old_keys)),
        removed=replayed(tuple(f for f in before if _key(f) not in new_keys)),
    )


def _stored_ids(
    engine: sa.Engine, prop_id: int, metric: str, *, start: date, end: date
) -> dict[tuple[date, str, str, str], int]:
    query = sa.select(_F.c.day, _F.c.series, _F.c.metric, _F.c.direction, _F.c.id).where(
        _F.c.property_id == prop_id, _F.c.metric == metric, _F.c.day >= start, _F.c.day <= end
    )
    with engine.connect() as conn:
        return {(r[0], str(r[1]), str(r[2]), str(r[3])): int(r[4]) for r in conn.execute(query)}
