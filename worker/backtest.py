"""``barometer backtest``: replay a property's stored history with the current thresholds.

What would have fired, per ISO week and metric (counts by kind and severity), next to
what analysts said about the findings that did fire (``barometer feedback``): how many
were labelled false alarms, and how many of those the current thresholds still raise.
The replay walks forward exactly as the daily run decides (only rows dated <= each day);
nothing is stored or sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.detection import learning
from jobs.detection.engine import walk
from jobs.detection.panels import derive_ctr
from jobs.domain import Finding, Label
from jobs.errors import BarometerError, InputError
from jobs.pipeline import history_days, learned
from jobs.storage import feedback, repo
from worker.backtest_chart import render_weeks

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["BacktestReport", "WeekRow", "run_backtest"]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class WeekRow:
    week: str
    metric: str
    findings: int
    kinds: dict[str, int] = field(default_factory=dict)
    severities: dict[str, int] = field(default_factory=dict)
    #: replayed findings that match a finding an analyst labelled a false alarm
    false_alarms: int = 0


@dataclass(frozen=True)
class BacktestReport:
    property: str
    start: date
    end: date
    findings: tuple[Finding, ...]
    rows: tuple[WeekRow, ...]
    #: findings labelled in the window, by their latest label
    labelled: dict[str, int]
    #: labelled false alarms the current thresholds still raise
    false_alarms_firing: int
    unscored: int = 0
    #: thresholds analysts' labels taught (jobs.detection.learning), one line each
    learned: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report as text, one line per week x metric with anything to say."""
        weeks = len({iso_week(self.start + timedelta(days=i)) for i in range((self.end - self.start).days + 1)})
        head = (
            f"{self.property}: backtest {self.start}..{self.end} ({weeks} weeks) with the current thresholds: "
            f"{len(self.findings)} finding(s)"
        )
        labelled = sum(self.labelled.values())
        false = self.labelled.get(Label.FALSE_ALARM.value, 0)
        out = [
            head,
            f"labelled in this window: {labelled} ({false} false alarm(s), {self.false_alarms_firing} still firing)",
        ]
        out += [f"learned: {line}" for line in self.learned]
        if not self.rows:
            out.append("nothing would have fired")
            return out
        out.append(f"{'week':<9} {'metric':<16} {'findings':>8}  {'false alarms':>12}  kinds; severities")
        for r in self.rows:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.kinds.items()))
            sev = ", ".join(f"{k} {n}" for k, n in sorted(r.severities.items()))
            out.append(f"{r.week:<9} {r.metric:<16} {r.findings:>8}  {r.false_alarms:>12}  {kinds}; {sev}")
        return out


def _rows(found: tuple[Finding, ...], labelled: tuple[feedback.LabelledFinding, ...]) -> tuple[WeekRow, ...]:
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in found:
        groups.setdefault((iso_week(f.anomaly.day), f.anomaly.metric), []).append(f)
    false = [lab for lab in labelled if lab.label is Label.FALSE_ALARM]
    rows = []
    for (week, metric), items in sorted(groups.items()):
        rows.append(
            WeekRow(
                week=week,
                metric=metric,
                findings=len(items),
                kinds=dict(Counter(f.anomaly.kind.value for f in items)),
                severities=dict(Counter(f.severity.value for f in items)),
                false_alarms=sum(1 for f in items if feedback.matches(f, false) is not None),
            )
        )
    return tuple(rows)


def run_backtest(runtime: Runtime, property_name: str, *, days: int, chart: Path | None = None) -> BacktestReport:
    """Replay the last ``days`` stored final days of ``property_name``; write ``chart`` (PNG) if given."""
    settings = runtime.settings
    if days < 1:
        raise InputError(f"--days must be at least 1, got {days}")
    spec = settings.property(property_name).spec()
    engine = runtime.engine
    prop_id = repo.property_id(engine, spec.name)
    end = None if prop_id is None else (repo.fetched_through(engine, prop_id) or repo.latest_day(engine, prop_id))
    if prop_id is None or end is None:
        raise BarometerError(f"property {spec.name!r} has no stored data yet (run `barometer fetch` or `import`)")
    start = end - timedelta(days=days - 1)
    taught = learned(engine, prop_id, settings.detection_params(), day=end)
    params = learning.with_learned(settings.detection_params(), spec.name, taught)
    panels = repo.load_panels(
        engine,
        prop_id,
        prop_name=spec.name,
        start=start - timedelta(days=history_days(params)),
        end=end,
        last_final=end,
    )
    done = walk(derive_ctr(panels), params, start=start, end=end)
    labelled = feedback.labels_between(engine, prop_id, start=start, end=end)
    firing = sum(
        1
        for lab in labelled
        if lab.label is Label.FALSE_ALARM and any(feedback.matches(f, [lab]) is not None for f in done.findings)
    )
    report = BacktestReport(
        property=spec.name,
        start=start,
        end=end,
        findings=done.findings,
        rows=_rows(done.findings, labelled),
        labelled=dict(Counter(lab.label.value for lab in labelled)),
        false_alarms_firing=firing,
        unscored=done.unscored,
        learned=tuple(item.line() for item in taught.values()),
    )
    if chart is not None:
        chart.write_bytes(render_weeks(report.rows, start=start, end=end, title=f"{spec.name}: findings per week"))
    return report
