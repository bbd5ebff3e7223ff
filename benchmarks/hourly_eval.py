"""The hourly set of ``make eval``: walk forward hour by hour over generated properties.

Each property (:mod:`benchmarks.hourly_data`) is scored as the hourly run would score it:
every hour of the two evaluation weeks is judged from the complete hours before it (one
call per day, the day's 24 hours as targets). Scores:

* recall per planted kind; an event is found when a finding of the right kind on its
  series and metric (a break: an ``outage`` of the metric on the total, or of sessions or
  event count for a whole-tag break) ends inside the event;
* false alarms on the anomaly-free properties, per property-week, counted as the product
  would alert them: one per series x metric x direction x day;
* findings on eventful properties that overlap no event (and are no consequence of one,
  i.e. fall outside every event's hours) are counted too.

Two seed sets: ``dev`` (tuned on) and ``held_out`` (never tuned on).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from benchmarks.hourly_data import Event, HourlyProperty, generate_set
from jobs.domain import Direction, Kind
from jobs.hourly.domain import WEEK_HOURS, Frontier, HourlyFinding
from jobs.hourly.params import HourlyParams
from jobs.hourly.rules import score_panel

__all__ = ["HOURLY_SETS", "HourlyScore", "evaluate_hourly", "walk"]

HOURLY_SETS: dict[str, list[int]] = {"dev": [1, 2, 3], "held_out": [101, 102, 103]}
_WANT = {
    "break_key": (Kind.OUTAGE,),
    "break_all": (Kind.OUTAGE,),
    "collapse": (Kind.DROP, Kind.OUTAGE),
    "spike": (Kind.SPIKE,),
}


@dataclass
class HourlyScore:
    found: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    planted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: list[int] = field(default_factory=list)  # hours from a break's start to its first finding
    free_alarms: int = 0
    free_weeks: float = 0.0
    stray: int = 0  # findings on eventful properties outside every event
    eventful_weeks: float = 0.0

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.planted[kind] if self.planted[kind] else float("nan")

    @property
    def per_week(self) -> float:
        return self.free_alarms / self.free_weeks if self.free_weeks else float("nan")


def walk(prop: HourlyProperty, params: HourlyParams) -> list[tuple[str, HourlyFinding]]:
    """Every finding of the evaluation weeks, with its panel's metric."""
    out = []
    for panel in prop.panels:
        for first in range(prop.eval_start, prop.hours, 24):
            frontier = Frontier(panel.hour_at(first + 24))
            for h in score_panel(panel, frontier, params, targets=range(first, min(first + 24, prop.hours))):
                out.append((panel.metric, h))
    return out


def _detects(event: Event, metric: str, h: HourlyFinding, index: int) -> bool:
    a = h.finding.anomaly
    if a.kind not in _WANT[event.kind] or not event.start < index <= event.end:
        return False
    if event.kind == "break_all":
        return a.series == "total" and metric in ("sessions", "eventCount", "keyEvents")
    return a.series == event.series and metric == event.metric


def evaluate_hourly(props: list[HourlyProperty], params: HourlyParams) -> HourlyScore:
    score = HourlyScore()
    for prop in props:
        panel = prop.panels[0]
        weeks = (prop.hours - prop.eval_start) / WEEK_HOURS
        findings = walk(prop, params)
        ends = [
            (metric, h, panel.index(h.end - (h.end - h.start) * 0) if h.end.minute == 0 else 0)
            for metric, h in findings
        ]
        if not prop.events:
            score.free_weeks += weeks
            alarms = {
                (m, h.finding.anomaly.series, h.finding.anomaly.direction is Direction.UP, h.finding.anomaly.day)
                for m, h, _ in ends
            }
            score.free_alarms += len(alarms)
            continue
        score.eventful_weeks += weeks
        for event in prop.events:
            score.planted[event.kind] += 1
            hits = sorted(i for m, h, i in ends if _detects(event, m, h, i))
            if hits:
                score.found[event.kind] += 1
                if event.kind.startswith("break"):
                    score.latency.append(hits[0] - event.start)
        stray = {
            (m, h.finding.anomaly.series, h.finding.anomaly.direction is Direction.UP, h.finding.anomaly.day)
            for m, h, i in ends
            if not any(e.start - 2 <= i <= e.end + 2 for e in prop.events)
        }
        score.stray += len(stray)
    return score


def run_hourly(params: HourlyParams | None = None, *, properties: int = 12, free: int = 8) -> dict[str, HourlyScore]:
    params = params or HourlyParams()
    return {
        name: evaluate_hourly(generate_set(seeds, properties=properties, free=free), params)
        for name, seeds in HOURLY_SETS.items()
    }


def report(results: dict[str, HourlyScore]) -> list[str]:
    lines = ["hourly watch (tracking breaks >= 98%, <= 1 false alarm per property-week):"]
    for name, s in results.items():
        kinds = ", ".join(
            f"{k} {s.found[k]}/{s.planted[k]} ({s.recall(k):.1%})"
            for k in ("break_key", "break_all", "collapse", "spike")
        )
        breaks = s.found["break_key"] + s.found["break_all"]
        planted = s.planted["break_key"] + s.planted["break_all"]
        lat = sorted(s.latency)
        median = lat[len(lat) // 2] if lat else float("nan")
        lines.append(
            f"  {name:<9} tracking breaks {breaks}/{planted} ({breaks / max(planted, 1):.1%}), "
            f"median {median} h after the break; false alarms {s.free_alarms} in {s.free_weeks:.0f} "
            f"anomaly-free property-weeks ({s.per_week:.2f} per property-week); {kinds}; "
            f"{s.stray} stray findings in {s.eventful_weeks:.0f} eventful property-weeks"
        )
    return lines


if __name__ == "__main__":
    for line in report(run_hourly()):
        print(line)
