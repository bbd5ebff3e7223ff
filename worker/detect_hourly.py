"""``barometer detect FILE.csv`` on an hourly file (header ``datetime,series,metric,value``).

The hourly watch's rules (:mod:`jobs.hourly.rules`, ``[hourly]`` thresholds) on a file:
by default the newest hour of the file (imported data count as complete); with
``--start/--end`` (``YYYY-MM-DDTHH:00``; a bare day means its first or last hour) every
hour in between, walking forward a day at a time: each day's hours are judged from the
rows up to them only, against the week before that day (no look-ahead). Count metrics
only; the others are named in a note. One JSON object per finding and hour, with the
daily output's fields and ``date`` holding the hour (``2026-12-07T10:00``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jobs.detection.explain import finding_to_json
from jobs.domain import COUNT_METRICS
from jobs.errors import InputError
from jobs.hourly.csvinput import parse_hour, read_hourly_csv
from jobs.hourly.domain import HOUR, Frontier, HourlyFinding, HourlyPanel
from jobs.hourly.rules import newest_per_problem, score_panel
from worker.detect import _open
from worker.settings import Settings

__all__ = ["HourlyDetectResult", "detect_hourly_file", "hour_option"]


@dataclass(frozen=True, slots=True)
class HourlyDetectResult:
    findings: int
    first: datetime
    last: datetime
    #: metrics in the file that are not counts (not judged by the hour)
    skipped_metrics: tuple[str, ...]

    def note(self, path: Path) -> str | None:
        if not self.skipped_metrics:
            return None
        return (
            f"note: {', '.join(self.skipped_metrics)} in {path.name} are not counts; the hourly rules judge counts only"
        )


def hour_option(text: str | None, option: str, *, end: bool) -> datetime | None:
    """``--start``/``--end``: an hour ``YYYY-MM-DDTHH:00``, or a day (its first or last hour)."""
    if text is None:
        return None
    if len(text) == 10:
        try:
            day = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{option}: {text!r} is not YYYY-MM-DDTHH:00 (or a day, YYYY-MM-DD)") from None
        return day + timedelta(hours=23) if end else day
    try:
        return parse_hour(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def detect_hourly_file(
    settings: Settings, path: Path, *, start: str | None, end: str | None, output: Path
) -> HourlyDetectResult:
    """Walk-forward hourly detection on ``path`` over ``start..end`` (default: its newest
    hour); write one JSON object per finding to ``output`` (``-``: stdout)."""
    panels = read_hourly_csv(path)
    counts = [p for p in panels if p.metric in COUNT_METRICS]
    skipped = tuple(p.metric for p in panels if p.metric not in COUNT_METRICS)
    newest = max(p.hour_at(p.hours - 1) for p in panels)
    first = hour_option(start, "--start", end=False)
    last = hour_option(end, "--end", end=True)
    first, last = first or last or newest, min(last or newest, newest)
    if first > last:
        raise InputError(f"--start {first:%Y-%m-%dT%H:%M} is after --end {last:%Y-%m-%dT%H:%M}")
    found = []
    for panel in counts:
        found += _walk(settings, panel, first, last)
    found.sort(key=lambda item: (item[0], item[1].finding.anomaly.series, item[1].finding.anomaly.metric))
    with _open(output) as out:
        for hour, h in found:
            row = finding_to_json(h.finding)
            row["date"] = f"{hour:%Y-%m-%dT%H:%M}"
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    return HourlyDetectResult(len(found), first, last, skipped)


def _walk(
    settings: Settings, panel: HourlyPanel, first: datetime, last: datetime
) -> list[tuple[datetime, HourlyFinding]]:
    """Each hour of ``first..last`` judged from the rows up to it (a day's hours per call)."""
    params = settings.hourly.params()
    out: list[tuple[datetime, HourlyFinding]] = []
    lo, hi = max(panel.index(first), 0), panel.index(last)
    block = lo
    while block <= hi:
        stop = min(block + 24 - (panel.hour_at(block).hour), hi + 1)  # to the end of the day
        seen = HourlyPanel(panel.property, panel.metric, panel.series, panel.start, panel.values[:, :stop])
        found = score_panel(
            seen,
            Frontier(seen.hour_at(stop)),
            params,
            targets=range(block, stop),
            break_p_value=settings.hourly.break_p_value,
        )
        by_hour: dict[datetime, list[HourlyFinding]] = defaultdict(list)
        for h in found:
            by_hour[h.end - HOUR].append(h)  # the hour judged: the last of the finding's window
        for hour in sorted(by_hour):
            out += [(hour, h) for h in newest_per_problem(by_hour[hour])]
        block = stop
    return out
