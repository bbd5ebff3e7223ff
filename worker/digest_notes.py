"""What a digest notes beside its findings: whose counting each property's dates follow, and
which incidents the hourly watch already alerted ("alerted at 10:40 (hourly watch)").

Used by :func:`worker.alerting.build_digest` and :func:`worker.weekly.build_weekly`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alerts import history
from jobs.domain import Incident
from jobs.hourly import store as hourly_store
from worker.settings import Settings

__all__ = ["source_of", "told_hourly"]


def source_of(settings: Settings, property_name: str) -> str:
    """``ga4``, ``gsc`` or ``csv``: whose counting a property's dates follow (the demo's
    synthetic properties behave like the source they imitate)."""
    prop = settings.property(property_name)
    return prop.id if prop.source == "demo" and prop.id in ("ga4", "gsc") else prop.source


def told_hourly(
    engine: sa.Engine, incidents: Sequence[Incident], *, since: date, until: datetime
) -> tuple[Incident, ...]:
    """``incidents``, those the hourly watch already alerted marked "alerted at 10:40 (hourly
    watch)" (local time of the property): the digest then tells them in one line.

    An incident matches when one of its findings is the same problem (property, series,
    metric, direction) as an hourly incident that started on the finding's day and whose
    alert went out before ``until``.
    """
    props = sorted({f.anomaly.property for i in incidents for f in i.findings})
    if not props:
        return tuple(incidents)
    start = datetime.combine(since - timedelta(days=1), time.min, tzinfo=UTC)
    alerted = hourly_store.alerted_between(engine, props, since=start, until=until)
    out = []
    for incident in incidents:
        told = ""
        for f in incident.findings:
            hit = next(
                (
                    h
                    for h in alerted
                    if h.problem_key == history.problem_key(f) and h.start_local.date() == f.anomaly.day
                ),
                None,
            )
            if hit is not None:
                local = hit.alerted_at.astimezone(ZoneInfo(hit.timezone))
                on = "" if local.date() == f.anomaly.day else f" on {local:%b} {local.day}"
                told = f"alerted at {local:%H:%M}{on} (hourly watch)"
                break
        out.append(replace(incident, alerted=told) if told else incident)
    return tuple(out)
