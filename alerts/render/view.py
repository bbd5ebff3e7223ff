"""What a digest says, decided once for every channel (email HTML and text, Slack, the full list).

Reading order, for a reader with one minute:

1. the subject names the top change and the number of changes;
2. a lead of at most :data:`MAX_LEAD_SENTENCES` short sentences;
3. at most :data:`MAX_FULL` incidents in full, ranked by severity then impact (an incident
   the hourly watch already alerted is one line: "alerted at 10:40");
4. the rest one line each, and "and N more" pointing at the full list;
5. what is still ongoing, compactly; and each source's data date, with why it lags.

Every count a reader sees (subject, lead, body) is ``len(incidents)``. A weekly summary
(``Digest.period_days`` 7) reads "Week to Dec 5", counts what is still open, and lists what
recovered during the week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from alerts.render import clean, incidents_of, ongoing_lines, paragraphs, properties_label
from alerts.render.links import Links, ReportLink
from alerts.render.words import (
    contributor_lines,
    driver_line,
    kind_words,
    numbers_line,
    short_phrase,
    silenced_metrics,
    title,
)
from jobs.domain import Digest, Finding, Incident, Kind, Severity

__all__ = [
    "MAX_FULL",
    "MAX_LEAD_SENTENCES",
    "DigestView",
    "FindingView",
    "IncidentView",
    "build_view",
    "changes",
    "lag_line",
    "lead_sentences",
    "subject",
]

MAX_FULL = 5
MAX_LEAD_SENTENCES = 3
MAX_ONGOING = 10
#: A chat header's length: the top change alone when two do not fit.
SHORT_SUBJECT = 75

#: Why each source's newest day lags, as a reader is told.
_LAG = {
    "ga4": ("Google Analytics", "Google finishes counting a day about 2 days later"),
    "gsc": ("Search Console", "Google finalises it about 3 days later"),
    "csv": ("Imported data", "the newest day in the imported file"),
}
_MUTE_ID = re.compile(r" \(mute \d+(?:: ([^)]*))?\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9“\"'(])")


def changes(n: int, *, weekly: bool = False) -> str:
    """``"6 changes"``; in a weekly summary ``"3 still open"``."""
    return f"{n} still open" if weekly else f"{n} change{'s' if n != 1 else ''}"


def _month_day(d: date) -> str:
    return f"{d:%b} {d.day}"


@dataclass(frozen=True, slots=True)
class FindingView:
    """One finding, as every renderer shows it (raw text: escape per channel)."""

    finding: Finding
    title: str  # "Sessions fell 39%"
    kind: str  # "sudden drop"
    numbers: str  # "expected about 1,200, got 720"
    severity: str
    driver: str  # "Because of fewer impressions (...)" or ""
    contributors: tuple[str, ...]
    report: ReportLink | None
    feedback: tuple[ReportLink, ...]

    @property
    def line(self) -> str:
        """The one-line form: ``"Sessions fell 39% (expected about 1,200, got 720)"``."""
        return f"{self.title} ({self.numbers})"


@dataclass(frozen=True, slots=True)
class IncidentView:
    lead: FindingView
    parts: tuple[FindingView, ...]
    severity: Severity
    note: str  # why it is shown again ("escalated ..."), or ""
    alerted: str  # "alerted at 10:40 (hourly watch)" or "": told in one line
    silenced: tuple[str, ...]  # under a tracking break: the metrics it stopped
    suppressed: int  # findings it explains and that are not listed on their own


@dataclass(frozen=True, slots=True)
class DigestView:
    subject: str
    where: str
    data_date: str  # "Dec 5", or "Week to Dec 5"
    counted: str  # "6 changes" (a weekly summary: "3 still open")
    lead: tuple[str, ...]  # at most MAX_LEAD_SENTENCES sentences
    count: int  # changes: every count the reader sees
    full: tuple[IncidentView, ...]  # in full (at most MAX_FULL)
    brief: tuple[IncidentView, ...]  # one line each (already alerted, or past MAX_FULL)
    more: int  # not listed at all here: "and N more"
    all_url: str
    ongoing: tuple[str, ...]
    dates: tuple[str, ...]
    notices: tuple[str, ...]
    immediate: bool
    quiet: str  # what an empty digest says
    recovered: tuple[str, ...] = ()  # a weekly summary: "Sessions fell 39% (last seen Dec 2)"
    short_subject: str = ""  # the subject in at most SHORT_SUBJECT characters (chat headers)


def lead_sentences(text: str, *, limit: int = MAX_LEAD_SENTENCES) -> tuple[str, ...]:
    """The first ``limit`` sentences of ``text`` (its paragraphs joined)."""
    joined = " ".join(paragraphs(text, limit=4000))
    return tuple(s.strip() for s in _SENTENCE.split(joined) if s.strip())[:limit]


def subject(digest: Digest, *, limit: int = 110) -> str:
    """``"Key events tracking stopped; sessions fell 39% (6 changes on shop)"``; an alert
    ``"Alert on shop: key events tracking stopped"``; an empty digest ``"All quiet on shop
    for Dec 5"`` (``"Nothing new ..."`` while problems are ongoing). ASCII punctuation only."""
    where = properties_label(digest)
    incidents = incidents_of(digest)
    prefix = "Follow-up: " if "/follow-up/" in digest.subscription else ""
    weekly = digest.period_days > 1
    if weekly:
        prefix = f"Week to {_month_day(digest.data_date)}: "
    if not incidents and digest.immediate and digest.headline:  # e.g. an hourly "Recovered on shop: ..."
        return clean(digest.headline, limit=limit)
    if not incidents:
        if weekly:
            back = f"{len(digest.recovered)} recovered, " if digest.recovered else ""
            return clean(f"{prefix}{back}nothing still open on {where}", limit=limit)
        quiet = "Nothing new" if digest.held_back or digest.ongoing else "All quiet"
        return clean(f"{prefix}{quiet} on {where} for {_month_day(digest.data_date)}", limit=limit)
    top = [short_phrase(i.lead) for i in incidents[:2]]
    top[0] = top[0][:1].upper() + top[0][1:]
    if digest.immediate:
        more = f" (+{len(incidents) - 1} more)" if len(incidents) > 1 else ""
        return clean(f"{prefix}Alert on {where}: {top[0][:1].lower() + top[0][1:]}{more}", limit=limit)
    back = f", {len(digest.recovered)} recovered" if weekly and digest.recovered else ""
    tail = f" ({changes(len(incidents), weekly=weekly)}{back} on {where})"
    head = "; ".join(top)
    if len(prefix + head + tail) > limit:
        head = top[0]
    head = head if len(prefix + head + tail) <= limit else head[: max(10, limit - len(prefix + tail) - 3)] + "..."
    return f"{prefix}{head}{tail}"


def lag_line(source: str, property_name: str, through: date) -> str:
    """``"Search Console (shop-search) through Dec 4: Google finalises it about 3 days later"``."""
    name, why = _LAG.get(source, ("Data", "the newest day its source has finished"))
    return clean(f"{name} ({property_name}) through {_month_day(through)}: {why}", limit=200)


def _finding_view(finding: Finding, links: Links, *, also: tuple[Finding, ...] = ()) -> FindingView:
    return FindingView(
        finding=finding,
        title=title(finding),
        kind=kind_words(finding),
        numbers=numbers_line(finding),
        severity=finding.severity.value,
        driver=driver_line(finding),
        contributors=contributor_lines(finding),
        report=links.report(finding),
        feedback=links.feedback(finding, also=also),
    )


def _incident_view(incident: Incident, links: Links) -> IncidentView:
    lead = incident.lead
    outage = lead.anomaly.kind is Kind.OUTAGE
    return IncidentView(
        lead=_finding_view(lead, links, also=incident.parts),
        parts=tuple(_finding_view(f, links) for f in incident.parts[:MAX_FULL]),
        severity=incident.severity,
        note=clean(incident.note, limit=300),
        alerted=clean(incident.alerted, limit=120),
        silenced=silenced_metrics(lead, incident.suppressed) if outage else (),
        suppressed=len(incident.suppressed),
    )


def _reason(reason: str) -> str:
    """A held-back reason without internal ids: ``"(mute 3: tag migration)"`` -> ``"(tag migration)"``."""
    return _MUTE_ID.sub(lambda m: f" ({m.group(1)})" if m.group(1) else "", reason)


def _ongoing(digest: Digest) -> tuple[str, ...]:
    """Open incidents first ("sessions −41% since Nov 16 (day 5) (shop)"), then what was
    held back and why; at most :data:`MAX_ONGOING` lines, then "and N more"."""
    lines = [
        *ongoing_lines(digest),
        *(clean(f"{title(h.finding)}: {_reason(h.reason)}", limit=300) for h in digest.held_back),
    ]
    if len(lines) > MAX_ONGOING:
        return (*lines[:MAX_ONGOING], f"and {len(lines) - MAX_ONGOING} more")
    return tuple(lines)


def build_view(digest: Digest, *, links: Links | None = None, max_full: int = MAX_FULL) -> DigestView:
    """The view of ``digest``; ``links`` adds report, feedback and full-list links."""
    links = links or Links()
    views = [_incident_view(i, links) for i in incidents_of(digest)]
    fresh = [v for v in views if not v.alerted]
    full = tuple(fresh[:max_full])
    brief_all = [v for v in views if v not in full]
    brief = tuple(brief_all[: max(0, 3 * max_full - len(full))])
    where = properties_label(digest)
    dates = tuple(lag_line(s.source, s.property, s.through) for s in digest.sources)
    weekly = digest.period_days > 1
    quiet = (
        "Nothing new: the problems below are ongoing and were reported before."
        if digest.held_back or digest.ongoing
        else "Nothing unusual: every watched metric stayed within its expected range."
    )
    if weekly:
        quiet = "Nothing is still open at the end of the week."
    if digest.immediate:
        quiet = ""  # an alert without incidents (a recovery follow-up) says it in its lead
    return DigestView(
        subject=subject(digest),
        short_subject=subject(digest, limit=SHORT_SUBJECT),
        where=where,
        data_date=f"Week to {_month_day(digest.data_date)}" if weekly else _month_day(digest.data_date),
        counted=changes(len(views), weekly=weekly),
        # with only ongoing problems, a summary of "nothing unusual" would contradict the list below
        lead=() if not views and digest.held_back and not digest.immediate else lead_sentences(digest.summary),
        count=len(views),
        full=full,
        brief=brief,
        more=len(brief_all) - len(brief),
        all_url=links.all_findings(digest.id),
        ongoing=_ongoing(digest),
        dates=dates,
        notices=tuple(clean(n, limit=500) for n in digest.notices),
        immediate=digest.immediate,
        quiet=quiet,
        recovered=tuple(
            clean(f"{title(f)} (last seen {_month_day(f.anomaly.day)})", limit=300)
            for f in digest.recovered[:MAX_ONGOING]
        ),
    )
