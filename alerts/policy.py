"""Which findings a subscription hears about, how they are grouped, and what is held back.

:func:`plan` is the whole policy, a pure function of the day's findings, the mutes in
force and what the subscription was already told (:mod:`alerts.history`). In order:

1. **severity floor**: findings below ``min_severity`` are left out entirely;
2. **mutes**: a finding a mute matches is held back ("muted until ...");
3. **inhibition** (:mod:`alerts.inhibition`): a tracking break suppresses the drops it
   causes; they are listed under it, or held back with the reason when it is not shown;
4. **deduplication**: a problem (same property, series, metric and direction) that was
   notified before and has been seen at least every ``dedup_days`` days since is held
   back ("ongoing: alerted on ..."), unless it *escalated*: its severity rose, or its
   observed/expected ratio moved ``escalation`` times further from 1 in its direction
   (with 1.5: a -40% drop escalates at -60%, a +100% spike at +200%). Escalations are
   shown again with a note saying what changed. A problem already sent as an immediate
   alert for that day stays in the digest with an "already alerted" note;
5. **grouping** (:mod:`alerts.grouping`): what is left becomes incidents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from alerts.grouping import group_incidents
from alerts.history import Sighting, problem_key
from alerts.inhibition import FindingKey, Inhibition, finding_key, inhibit
from alerts.mutes import Mute
from alerts.ranking import impact, rank_key
from alerts.render import collapse_of, finding_phrase
from jobs.domain import Direction, Finding, HeldBack, Incident, Kind, Severity

__all__ = ["Plan", "PolicyParams", "impact", "plan", "select_findings"]


def select_findings(findings: Sequence[Finding], *, min_severity: Severity) -> tuple[Finding, ...]:
    """The findings at or above ``min_severity``, most severe first, then largest impact.

    Ties go to property totals before breakdown children, then to the dedupe key, so the
    order is deterministic for a given input.
    """
    return tuple(sorted((f for f in findings if f.severity.at_least(min_severity)), key=rank_key))


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """A subscription's policy knobs (see the module docstring)."""

    min_severity: Severity = Severity.MEDIUM
    dedup_days: int = 7
    escalation: float = 1.5
    #: Only these kinds (None: every kind). Immediate alerts use it for their critical kinds.
    kinds: frozenset[Kind] | None = None
    #: Planning an immediate alert: anything already notified for its day is dropped, and
    #: nothing is held back (an alert only carries news).
    immediate: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What a digest shows (incidents) and what it deliberately does not (held back)."""

    incidents: tuple[Incident, ...]
    held_back: tuple[HeldBack, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The findings shown, in display order."""
        return tuple(f for incident in self.incidents for f in incident.findings)

    @property
    def leads(self) -> tuple[Finding, ...]:
        return tuple(incident.lead for incident in self.incidents)


def _change(ratio: float | None) -> str:
    if ratio is None:
        return "up from zero"
    return f"{(ratio - 1) * 100:+.0f}%"


def _escalated(finding: Finding, prev: Sighting, factor: float) -> bool:
    if finding.severity.rank > Severity(prev.severity).rank:
        return True
    a = finding.anomaly
    now = None if a.expected == 0 else a.observed / a.expected
    if prev.ratio is None:
        return False  # it was up from zero: nothing is further than that
    if now is None:
        return a.direction is Direction.UP
    if a.direction is Direction.DOWN:
        return prev.ratio > 0 and now <= prev.ratio / factor
    return now >= prev.ratio * factor


def _last_notified(finding: Finding, rows: Sequence[Sighting], dedup_days: int) -> Sighting | None:
    """The newest notification of this problem before its day, if the problem was seen
    at least every ``dedup_days`` days since (newest-first ``rows``)."""
    day = finding.anomaly.day
    for row in rows:
        if row.day >= day:
            continue
        if day - row.day > timedelta(days=dedup_days):
            return None
        if row.notified:
            return row
        day = row.day
    return None


@dataclass(frozen=True, slots=True)
class _Recall:
    show: bool
    note: str = ""  # shown: why it is shown again; held back: why not


def _recall(finding: Finding, rows: Sequence[Sighting], params: PolicyParams) -> _Recall:
    day = finding.anomaly.day
    today = [r for r in rows if r.day == day and r.notified]
    if params.immediate and today:
        return _Recall(False, "already notified")
    alerted = next((r for r in today if r.via == "alert" and r.sent_at is not None), None)
    if alerted is not None and alerted.sent_at is not None:
        return _Recall(True, f"already alerted at {alerted.sent_at:%H:%M} UTC (immediate alert)")
    if params.dedup_days <= 0:
        return _Recall(True)
    prev = _last_notified(finding, rows, params.dedup_days)
    if prev is None:
        return _Recall(True)
    a = finding.anomaly
    now = None if a.expected == 0 else a.observed / a.expected
    if _escalated(finding, prev, params.escalation):
        rose = f", now {finding.severity.value}" if finding.severity.rank > Severity(prev.severity).rank else ""
        return _Recall(
            True, f"escalated: {_change(prev.ratio)} when alerted on {prev.day.isoformat()}, {_change(now)} now{rose}"
        )
    return _Recall(False, f"ongoing: alerted on {prev.day.isoformat()} and not worse since")


def _muted_reason(mute: Mute) -> str:
    why = f": {mute.reason}" if mute.reason else ""
    return f"muted until {mute.until:%Y-%m-%d %H:%M} UTC (mute {mute.id}{why})"


def plan(
    findings: Sequence[Finding],
    *,
    params: PolicyParams,
    subscription: str,
    mutes: Sequence[Mute] = (),
    history: Mapping[str, Sequence[Sighting]] | None = None,
) -> Plan:
    """The digest (or immediate alert) ``subscription`` gets for ``findings``; pure and
    deterministic (the order of ``findings`` does not matter)."""
    history = history or {}
    wanted = sorted(
        (
            f
            for f in findings
            if f.severity.at_least(params.min_severity) and (params.kinds is None or f.anomaly.kind in params.kinds)
        ),
        key=rank_key,
    )
    held: dict[FindingKey, str] = {}
    for f in wanted:
        mute = next((m for m in mutes if m.matches(f, subscription=subscription)), None)
        if mute is not None:
            held[finding_key(f)] = _muted_reason(mute)
    inhibition = inhibit(wanted)
    suppressed = {finding_key(f): by for f, by in inhibition.suppressed}
    notes: dict[FindingKey, str] = {}
    for f in inhibition.kept:
        if finding_key(f) in held:
            continue
        recall = _recall(f, history.get(problem_key(f), ()), params)
        if recall.show:
            notes[finding_key(f)] = recall.note
        else:
            held[finding_key(f)] = recall.note
    shown = [f for f in inhibition.kept if finding_key(f) not in held]
    incidents = []
    for incident in group_incidents(shown):
        under = tuple(
            f
            for f in inhibition.under(incident.lead) + _under_parts(inhibition, incident)
            if finding_key(f) not in held
        )
        incidents.append(Incident(incident.findings, suppressed=under, note=_note(incident, notes)))
    if params.immediate:
        return Plan(tuple(incidents), ())
    for f in wanted:
        key = finding_key(f)
        if key in suppressed and key not in held and finding_key(suppressed[key]) in held:
            cause = suppressed[key]
            held[key] = f"suppressed: follows from {collapse_of(cause)} ({held[finding_key(cause)]})"
    held_back = tuple(HeldBack(f, held[finding_key(f)]) for f in wanted if finding_key(f) in held)
    return Plan(tuple(incidents), held_back)


def _under_parts(inhibition: Inhibition, incident: Incident) -> tuple[Finding, ...]:
    return tuple(f for part in incident.parts for f in inhibition.under(part))


def _note(incident: Incident, notes: Mapping[FindingKey, str]) -> str:
    lines = []
    for f in incident.findings:
        note = notes.get(finding_key(f), "")
        if note:
            lines.append(note if f is incident.lead else f"{finding_phrase(f)}: {note}")
    return "; ".join(dict.fromkeys(lines))
