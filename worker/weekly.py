"""The weekly summary of a subscription with ``cadence = "weekly"``.

:func:`build_weekly` plans and stores it like a daily digest (once per subscription and
scheduled day), over each property's last :data:`WEEK_DAYS` days: what is still open on the
newest day in full, what recovered during the week as a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from alerts import history
from alerts.mutes import active_mutes
from alerts.policy import PolicyParams, plan
from jobs.domain import DataDate, Digest, Finding
from jobs.storage import llm_calls, repo
from worker.digest_notes import source_of

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["WEEK_DAYS", "build_weekly"]

Clock = Callable[[], datetime]

#: Days a weekly summary covers, ending on each property's newest final day.
WEEK_DAYS = 7


def build_weekly(
    runtime: Runtime,
    name: str,
    dates: Mapping[str, date],
    *,
    problems: Mapping[str, str],
    now: Clock,
    scheduled_day: date | None = None,
) -> Digest:
    """Plan and store ``name``'s weekly summary: the problems of each property's last
    :data:`WEEK_DAYS` days. A problem seen on the newest day is still open (an incident, told
    in full); one seen earlier in the week only has recovered (listed with its last finding).
    Mutes and the severity floor apply; nothing is held back as "already told": the week is
    told whole."""
    settings = runtime.settings
    subscription = settings.subscription(name)
    engine = runtime.engine
    latest: dict[str, Finding] = {}
    for prop_name, day in dates.items():
        prop_id = repo.property_id(engine, prop_name)
        if prop_id is None:
            continue
        for offset in range(WEEK_DAYS - 1, -1, -1):  # oldest first: a later finding replaces an earlier one
            for f in repo.findings_for(engine, prop_id, day - timedelta(days=offset)):
                if f.severity.at_least(subscription.min_severity):
                    latest[history.problem_key(f)] = f
    last_day = dict(dates)
    still = [f for f in latest.values() if f.anomaly.day == last_day[f.anomaly.property]]
    over = tuple(
        sorted(
            (f for f in latest.values() if f.anomaly.day != last_day[f.anomaly.property]),
            key=lambda f: (f.anomaly.day, f.dedupe_key),
        )
    )
    at = now()
    params = PolicyParams(min_severity=subscription.min_severity, dedup_days=0, escalation=subscription.escalation)
    planned = plan(still, params=params, subscription=name, mutes=active_mutes(engine, now=at))
    key_date = max(dates.values())
    summary = runtime.summariser(subscription.name).summarise(planned.leads, data_date=key_date)
    notices = [f"{prop}: no fresh data ({reason})" for prop, reason in sorted(problems.items())]
    digest = Digest(
        subscription=name,
        data_date=key_date,
        properties=subscription.properties,
        findings=planned.findings,
        headline=summary.headline,
        summary=summary.text,
        generated_at=at,
        summariser=summary.summariser,
        notices=tuple(notices),
        incidents=planned.incidents,
        held_back=planned.held_back,
        scheduled_day=scheduled_day,
        missing=tuple(sorted(problems)),
        sources=tuple(DataDate(p, source_of(settings, p), d) for p, d in sorted(dates.items())),
        period_days=WEEK_DAYS,
        recovered=over,
    )
    saved = repo.save_digest(engine, digest)
    if saved.id is not None:
        llm_calls.link_to_digest(engine, summary.call_ids, saved.id)
    return saved
